package dnslb

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnslb/dnslb/health"
)

// TestOverrideWinsOverHealth: drain and force-down keep a healthy member
// out, force-up serves a failing one, none lets the check decide.
func TestOverrideWinsOverHealth(t *testing.T) {
	healthy := true
	p := health.NewProber(health.Options{Probe: func(context.Context, *health.Check, netip.Addr) health.Result {
		return health.Result{OK: healthy}
	}})
	c := &health.Check{Name: "c", Type: health.TypeNone, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, InitialUp: true}
	target := p.Sync([]health.Spec{{Check: c, Addr: netip.MustParseAddr("192.0.2.1")}})[0]
	m := &member{target: target, state: &memberState{}}
	for _, tc := range []struct {
		override uint32
		healthy  bool
		want     bool
	}{
		{overrideNone, true, true},
		{overrideNone, false, false},
		{overrideDrain, true, false},
		{overrideDown, true, false},
		{overrideUp, false, true},
		{overrideUp, true, true},
	} {
		healthy = tc.healthy
		p.CheckNow(context.Background(), target)
		m.state.override.Store(tc.override)
		if got := m.eligible(); got != tc.want {
			t.Errorf("override %s, healthy %v: eligible %v, want %v", overrideNames[tc.override], tc.healthy, got, tc.want)
		}
	}
	if (&member{state: &memberState{}}).eligible() != true {
		t.Error("a member without a check is not eligible")
	}
}

// TestStateFileRoundTrip: overrides written are read back.
func TestStateFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	a := newMemberStates()
	if p, err := a.load(path, time.Now()); err != nil || p != nil {
		t.Fatal(p, err)
	}
	addr := netip.MustParseAddr("2001:db8::1")
	if err := a.setOverride("www.example.", addr, overrideDrain, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	b := newMemberStates()
	if p, err := b.load(path, time.Now()); err != nil || p != nil {
		t.Fatal(p, err)
	}
	if got := b.get("www.example.", addr).override.Load(); got != overrideDrain {
		t.Fatalf("read back %s", overrideNames[got])
	}
	if got := b.get("www.example.", addr).since.Load(); got != time.Unix(1700000000, 0).UnixNano() {
		t.Fatalf("since read back as %v", time.Unix(0, got))
	}
}

// TestStateFileDamaged: a state file that cannot be used whole does not
// stop the server (issue 20: a restart loop under systemd). What can be
// read is kept, the file is moved aside as PATH.corrupt-TIMESTAMP, a clean
// file takes its place, and every problem is reported. IPv4-mapped
// addresses are read as IPv4; entries without a time stay without one.
func TestStateFileDamaged(t *testing.T) {
	now := time.Date(2026, 11, 27, 13, 30, 0, 0, time.UTC)
	v4 := netip.MustParseAddr("192.0.2.10")
	for _, tc := range []struct {
		name      string
		text      string
		problems  []string // substrings, in order
		overrides map[string]string
		rewritten string // substring of the clean file, "" = not checked
	}{
		{
			name: "not json", text: "{not json",
			problems: []string{"not a dnslb state file", "kept as "},
		},
		{
			name: "unknown version", text: `{"version": 7, "overrides": []}`,
			problems: []string{"version 7", "kept as "},
		},
		{
			name: "some bad entries", text: `{"version": 1, "overrides": [
				{"pool": "www.example.", "address": "192.0.2.10", "override": "drain", "since": "2026-01-01T00:00:00Z"},
				{"pool": "www.example.", "address": "192.0.2.300", "override": "down"},
				{"pool": "www.example.", "address": "192.0.2.11", "override": "sideways"},
				{"pool": "", "address": "192.0.2.12", "override": "down"}]}`,
			problems:  []string{`overrides[1]: pool www.example.: address "192.0.2.300"`, `overrides[2]: pool www.example. member 192.0.2.11: override "sideways"`, `overrides[3]: pool ""`, "kept as "},
			overrides: map[string]string{"www.example. 192.0.2.10": "drain"},
			rewritten: `"since": "2026-01-01T00:00:00Z"`,
		},
		{
			name: "mapped address, no time", text: `{"version": 1, "overrides": [
				{"pool": "WWW.example.", "address": "::ffff:192.0.2.10", "override": "down"}]}`,
			overrides: map[string]string{"www.example. 192.0.2.10": "down"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "s.json")
			if err := writeFile(path, tc.text); err != nil {
				t.Fatal(err)
			}
			s := newMemberStates()
			problems, err := s.load(path, now)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if len(problems) != len(tc.problems) {
				t.Fatalf("problems %q, want %d like %q", problems, len(tc.problems), tc.problems)
			}
			for i, want := range tc.problems {
				if !strings.Contains(problems[i], want) {
					t.Errorf("problem %d: %q lacks %q", i, problems[i], want)
				}
			}
			got := map[string]string{}
			for k, st := range s.m {
				if ov := st.override.Load(); ov != overrideNone {
					got[k.pool+" "+k.addr.String()] = overrideNames[ov]
				}
			}
			if len(got) != len(tc.overrides) {
				t.Errorf("overrides %v, want %v", got, tc.overrides)
			}
			for k, v := range tc.overrides {
				if got[k] != v {
					t.Errorf("override of %s: %q, want %q", k, got[k], v)
				}
			}
			aside := path + ".corrupt-20261127T133000Z"
			_, err = os.Stat(aside)
			if len(tc.problems) > 0 {
				if b, err := os.ReadFile(aside); err != nil || string(b) != tc.text {
					t.Errorf("the damaged file is not kept as %s: %v", aside, err)
				}
			} else if err == nil {
				t.Errorf("a sound file was moved aside")
			}
			// The file now on disk is clean: it loads without problems.
			if len(tc.problems) > 0 {
				if p, err := newMemberStates().load(path, now); err != nil || p != nil {
					t.Errorf("the rewritten file: %q %v", p, err)
				}
			}
			if tc.rewritten != "" {
				if b, _ := os.ReadFile(path); !strings.Contains(string(b), tc.rewritten) {
					t.Errorf("rewritten file lacks %s:\n%s", tc.rewritten, b)
				}
			}
			// Written back, an entry without a time stays without one (it
			// used to come back as the year 1754).
			if err := s.setOverride("other.example.", v4, overrideUp, now); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			if strings.Contains(string(b), "1754") || strings.Contains(string(b), "0001-01-01") {
				t.Errorf("a missing time was written as a date:\n%s", b)
			}
		})
	}
}

// TestStatePrune: the overrides of members no longer configured are
// dropped, from memory and from the file.
func TestStatePrune(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	s := newMemberStates()
	if _, err := s.load(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for _, k := range []memberKey{{"www.example.", a}, {"www.example.", b}, {"gone.example.", a}} {
		if err := s.setOverride(k.pool, k.addr, overrideDrain, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	dropped, err := s.prune(map[memberKey]bool{{"www.example.", a}: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range dropped {
		names = append(names, k.pool+" "+k.addr.String())
	}
	if fmt.Sprint(names) != "[gone.example. 192.0.2.1 www.example. 192.0.2.2]" {
		t.Errorf("dropped %v", dropped)
	}
	c := newMemberStates()
	if _, err := c.load(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(c.m) != 1 || c.get("www.example.", a).override.Load() != overrideDrain {
		t.Errorf("the file still holds %d entries", len(c.m))
	}
}
