package dnslb

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// TestStatusLastError: /api/v1/status shows a member's last error with when
// it happened, as current while the member is down or its latest probe
// failed, and as past (kept, with its time) once it has recovered.
func TestStatusLastError(t *testing.T) {
	probe := newFakeProbe()
	cfg := poolConfig("127.0.0.1:0", "type = \"tcp\"\nport = 9\ninterval = \"1h\"\nrise = 1\nfall = 2\n", "all", []string{"192.0.2.10", "192.0.2.11"}, "")
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": cfg})
	ts := start(t, dir+"/dnslb.toml", Options{Probe: probe.probe})
	testutil.WaitFor(t, 20*time.Second, "first health round", ts.prober.FirstRoundDone)
	target := findTarget(t, ts, "192.0.2.11")
	member := func() memberStatus {
		t.Helper()
		for _, m := range ts.apiStatus(t).Pools[0].Members {
			if m.Address == "192.0.2.11" {
				return m
			}
		}
		t.Fatal("192.0.2.11 not in the status")
		return memberStatus{}
	}
	check := func(ok bool) {
		probe.set("192.0.2.11", fakeFigures{down: !ok})
		ts.prober.CheckNow(context.Background(), target)
	}

	if m := member(); m.LastError != "" || !m.LastErrorAt.IsZero() || m.ErrorCurrent {
		t.Errorf("never failed: %+v", m)
	}
	check(false)
	if m := member(); m.Health != "up" || m.LastError == "" || !m.ErrorCurrent {
		t.Errorf("one failure of two: health %s, error %q current %v; want up, the error, current", m.Health, m.LastError, m.ErrorCurrent)
	}
	before := time.Now()
	check(false)
	after := time.Now()
	m := member()
	if m.Health != "down" || m.LastError == "" || !m.ErrorCurrent || m.LastErrorAt.Before(before.Add(-time.Millisecond)) || m.LastErrorAt.After(after) {
		t.Errorf("down: health %s, error %q at %v current %v; want down, an error between %v and %v, current",
			m.Health, m.LastError, m.LastErrorAt, m.ErrorCurrent, before.UTC(), after.UTC())
	}
	failedAt := m.LastErrorAt
	check(true)
	if m := member(); m.Health != "up" || m.ErrorCurrent || m.LastError == "" || !m.LastErrorAt.Equal(failedAt) {
		t.Errorf("recovered: health %s, error %q at %v current %v; want up, the error kept at %v, not current", m.Health, m.LastError, m.LastErrorAt, m.ErrorCurrent, failedAt)
	}
	// The JSON names.
	resp, err := http.Get(ts.http + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw struct {
		Pools []struct {
			Members []map[string]any `json:"members"`
		} `json:"pools"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"last_error", "last_error_at", "last_error_current"} {
		if _, ok := raw.Pools[0].Members[1][key]; !ok {
			t.Errorf("no %s in %v", key, raw.Pools[0].Members[1])
		}
	}
}
