package dnslb

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// reloadConfig is a valid config whose answers say which one it is: TXT
// ver.lb.test. is the version, and the pool's members differ.
func reloadConfig(version string, members []string, broken bool) string {
	bad := ""
	if broken {
		bad = `, "bad 60 IN A 1.2.3"`
	}
	var ms []string
	for _, m := range members {
		ms = append(ms, fmt.Sprintf("{ address = %q }", m))
	}
	return fmt.Sprintf(`[server]
listen = ["127.0.0.1:0"]
http = "127.0.0.1:0"
admin_token_file = "token"
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1", "ver 60 IN TXT \"%s\""%s]
[[pool]]
name = "www.lb.test."
policy = "all"
members = [%s]
`, version, bad, strings.Join(ms, ", "))
}

// TestReloadUnderLoad: while clients query continuously, the config is
// reloaded 20 times, alternating two valid configs and an invalid one. No
// query times out or gets SERVFAIL, every answer is one of the two valid
// configs', and the invalid one is refused with its errors and never served.
func TestReloadUnderLoad(t *testing.T) {
	configs := []string{
		reloadConfig("A", []string{"192.0.2.11", "192.0.2.12"}, false),
		reloadConfig("B", []string{"192.0.2.21", "192.0.2.22", "192.0.2.23"}, false),
		reloadConfig("C", []string{"192.0.2.31"}, true),
	}
	valid := map[string][]string{"A": {"192.0.2.11", "192.0.2.12"}, "B": {"192.0.2.21", "192.0.2.22", "192.0.2.23"}}
	dir := testutil.WriteFiles(t, map[string]string{"token": testToken, "dnslb.toml": configs[0]})
	cfg := filepath.Join(dir, "dnslb.toml")
	ts := start(t, cfg, Options{})

	var sent, timeouts, servfails, wrong atomic.Int64
	var firstWrong atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			co, err := dns.Dial("udp", ts.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer co.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m := new(dns.Msg)
				if (i+g)%2 == 0 {
					m.SetQuestion("ver.lb.test.", dns.TypeTXT)
				} else {
					m.SetQuestion("www.lb.test.", dns.TypeA)
				}
				// A lost query, not a late one on a loaded machine, is
				// what counts as a timeout.
				_ = co.SetDeadline(time.Now().Add(10 * time.Second))
				if err := co.WriteMsg(m); err != nil {
					t.Error(err)
					return
				}
				sent.Add(1)
				r, err := co.ReadMsg()
				for err == nil && r.Id != m.Id { // a late answer to an earlier query
					r, err = co.ReadMsg()
				}
				if err != nil {
					timeouts.Add(1)
					continue
				}
				if r.Rcode == dns.RcodeServerFailure {
					servfails.Add(1)
					continue
				}
				if !answerIsValid(r, valid) {
					wrong.Add(1)
					firstWrong.CompareAndSwap(nil, r.String())
				}
			}
		}()
	}
	// Each reload waits for 50 more queries, not for a time: however slow
	// the machine, queries are in flight across every reload.
	flowing := func() {
		t.Helper()
		from := sent.Load()
		testutil.WaitFor(t, 20*time.Second, "50 more queries sent", func() bool { return sent.Load() >= from+50 })
	}
	for i := range 20 {
		flowing()
		c := configs[(i+1)%3]
		if err := os.WriteFile(cfg, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		code, body := ts.post(t, "/api/v1/reload", testToken, "")
		broken := (i+1)%3 == 2
		switch {
		case broken && (code != 422 || !strings.Contains(body, "dnslb.toml:")):
			t.Errorf("reload %d of the invalid config: %d %s, want 422 with file:line errors", i, code, body)
		case !broken && code != 200:
			t.Errorf("reload %d: %d %s", i, code, body)
		}
	}
	flowing()
	close(stop)
	wg.Wait()
	t.Logf("%d queries during 20 reloads: %d timeouts, %d SERVFAIL, %d not from a valid config", sent.Load(), timeouts.Load(), servfails.Load(), wrong.Load())
	if timeouts.Load() != 0 || servfails.Load() != 0 || wrong.Load() != 0 {
		t.Fatalf("timeouts %d, SERVFAIL %d, wrong %d; first wrong:\n%v", timeouts.Load(), servfails.Load(), wrong.Load(), firstWrong.Load())
	}
	if !strings.Contains(ts.logs.String(), "reload refused") {
		t.Error("the refused reload was not logged")
	}
}

// answerIsValid: the TXT names a valid config, or the A records are exactly
// one valid config's members.
func answerIsValid(r *dns.Msg, valid map[string][]string) bool {
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return false
	}
	if txt, ok := r.Answer[0].(*dns.TXT); ok {
		_, ok := valid[strings.Join(txt.Txt, "")]
		return ok
	}
	got := addresses(r)
	for _, want := range valid {
		if slices.Equal(got, want) {
			return true
		}
	}
	return false
}

// TestReloadKeepsHealthAndOverrides: a member that is down stays down
// across a reload (its state is not reset to the initial "up"), and an
// override stays.
func TestReloadKeepsHealthAndOverrides(t *testing.T) {
	hosts := []string{"127.0.7.1", "127.0.7.2", "127.0.7.3"}
	bs, port := testutil.Backends(t, "tcp", hosts...)
	// A long interval: after the reload nothing would probe again soon, so
	// a state reset would show.
	check := fmt.Sprintf("type = \"tcp\"\nport = %d\ninterval = \"1s\"\ntimeout = \"200ms\"\nrise = 1\nfall = 1\n", port)
	dir := testutil.WriteFiles(t, map[string]string{"token": testToken, "dnslb.toml": poolConfig("127.0.0.1:0", check, "all", hosts, `admin_token_file = "token"`)})
	cfg := filepath.Join(dir, "dnslb.toml")
	ts := start(t, cfg, Options{})
	bs[0].Stop()
	testutil.WaitFor(t, 20*time.Second, "127.0.7.1 withdrawn", func() bool { return !slices.Contains(ts.members(t), "127.0.7.1") })
	if code, body := ts.post(t, "/api/v1/pools/www.lb.test./members/127.0.7.2/override", testToken, `{"override":"drain"}`); code != 200 {
		t.Fatalf("drain: %d %s", code, body)
	}
	// Change something else and reload.
	old, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(old), `"ns1 60 IN A 192.0.2.1"`, `"ns1 60 IN A 192.0.2.1", "new 60 IN A 192.0.2.9"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := ts.ask(t, "udp", "new.lb.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Fatal("reload not applied")
	}
	if got := ts.members(t); !slices.Equal(got, []string{"127.0.7.3"}) {
		t.Fatalf("after reload: %v, want only 127.0.7.3 (7.1 down, 7.2 drained)", got)
	}
}
