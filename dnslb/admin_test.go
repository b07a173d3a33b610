package dnslb

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

const testToken = "test-admin-token-0123456789abcdef"

// adminConfig: a pool of three always-healthy members, the HTTP side on an
// ephemeral port, a token and a state file.
func adminConfig(t *testing.T) (dir string) {
	t.Helper()
	dir = testutil.WriteFiles(t, map[string]string{
		"token": testToken + "\n",
		"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = "127.0.0.1:0"
admin_token_file = "token"
state_file = "state/dnslb.state"
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
[[pool]]
name = "www.lb.test."
policy = "all"
members = [{ address = "192.0.2.11" }, { address = "192.0.2.12" }, { address = "192.0.2.13" }]
`})
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// post sends a JSON body with an optional token and returns status and body.
func (ts *testServer) post(t *testing.T, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.http+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (ts *testServer) members(t *testing.T) []string {
	return addresses(ts.ask(t, "udp", "www.lb.test.", dns.TypeA))
}

// TestAdminOverride: overrides need the token, are applied at once, and
// survive a restart through the state file.
func TestAdminOverride(t *testing.T) {
	dir := adminConfig(t)
	cfg := filepath.Join(dir, "dnslb.toml")
	ts := start(t, cfg, Options{})
	const drain = "/api/v1/pools/www.lb.test./members/192.0.2.12/override"
	for _, tc := range []struct {
		name, token, body string
		code              int
	}{
		{"no token", "", `{"override":"drain"}`, 401},
		{"wrong token", "not-the-token-at-all-123", `{"override":"drain"}`, 401},
		{"token prefix", testToken[:10], `{"override":"drain"}`, 401},
		{"bad json", testToken, `{"override":`, 400},
		{"unknown field", testToken, `{"override":"drain","x":1}`, 400},
		{"bad override", testToken, `{"override":"sleep"}`, 400},
	} {
		if code, body := ts.post(t, drain, tc.token, tc.body); code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.code)
		}
	}
	if code, _ := ts.post(t, "/api/v1/pools/nope.lb.test./members/192.0.2.12/override", testToken, `{"override":"drain"}`); code != 404 {
		t.Errorf("unknown pool: %d, want 404", code)
	}
	if code, _ := ts.post(t, "/api/v1/pools/www.lb.test./members/192.0.2.99/override", testToken, `{"override":"drain"}`); code != 404 {
		t.Errorf("unknown member: %d, want 404", code)
	}
	if code, _ := ts.post(t, "/api/v1/pools/www.lb.test./members/not-an-ip/override", testToken, `{"override":"drain"}`); code != 400 {
		t.Errorf("bad member: %d, want 400", code)
	}
	if got := ts.members(t); len(got) != 3 {
		t.Fatalf("refused calls changed the answers: %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "state/dnslb.state")); err == nil {
		t.Fatal("refused calls wrote the state file")
	}
	if strings.Contains(ts.logs.String(), testToken) {
		t.Fatal("the token appears in the logs")
	}

	if code, body := ts.post(t, drain, testToken, `{"override":"drain"}`); code != 200 {
		t.Fatalf("drain: %d %s", code, body)
	}
	if got := ts.members(t); slices.Contains(got, "192.0.2.12") || len(got) != 2 {
		t.Fatalf("drained member still served: %v", got)
	}
	// The drain survives a restart.
	ts.stop()
	ts = start(t, cfg, Options{})
	if got := ts.members(t); slices.Contains(got, "192.0.2.12") || len(got) != 2 {
		t.Fatalf("after restart: %v, want the drain kept", got)
	}
	resp, err := http.Get(ts.http + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var st statusJSON
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, m := range st.Pools[0].Members {
		if want := map[bool]string{true: "drain", false: "none"}[m.Address == "192.0.2.12"]; m.Override != want || m.Eligible != (want == "none") {
			t.Errorf("status of %s: override %s eligible %v", m.Address, m.Override, m.Eligible)
		}
	}
	// force down, force up, back to automatic.
	for _, step := range []struct {
		ov   string
		want int
	}{{"down", 2}, {"up", 3}, {"none", 3}} {
		if code, body := ts.post(t, drain, testToken, `{"override":"`+step.ov+`"}`); code != 200 {
			t.Fatalf("%s: %d %s", step.ov, code, body)
		}
		if got := ts.members(t); len(got) != step.want {
			t.Fatalf("after %s: %v", step.ov, got)
		}
	}
}

// TestAdminStateFileUnwritable: when the state file cannot be written the
// override is refused with an error and nothing changes.
func TestAdminStateFileUnwritable(t *testing.T) {
	dir := adminConfig(t)
	ts := start(t, filepath.Join(dir, "dnslb.toml"), Options{})
	if err := os.RemoveAll(filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	code, body := ts.post(t, "/api/v1/pools/www.lb.test./members/192.0.2.12/override", testToken, `{"override":"drain"}`)
	if code != 500 || !strings.Contains(body, "state file") {
		t.Fatalf("%d %s, want 500 naming the state file", code, body)
	}
	if got := ts.members(t); len(got) != 3 {
		t.Fatalf("a refused override changed the answers: %v", got)
	}
	// Still serving, still accepting once the folder is back.
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, body := ts.post(t, "/api/v1/pools/www.lb.test./members/192.0.2.12/override", testToken, `{"override":"drain"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	testutil.WaitFor(t, 20*time.Second, "drain applied", func() bool { return len(ts.members(t)) == 2 })
}
