package dnslb

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

const (
	foInterval = 500 * time.Millisecond
	foTimeout  = 200 * time.Millisecond
	foRise     = 2
	foFall     = 3
	// foMargin absorbs scheduling on a loaded machine; the bounds under
	// test are fall×interval+timeout and rise×interval+timeout.
	foMargin = 3 * time.Second
)

// poolConfig is a zone lb.test. with a pool www.lb.test. of members checked
// by check (TOML lines of a [check.c] table).
func poolConfig(listenHTTP string, check string, policy string, members []string, extra string) string {
	var ms []string
	for _, m := range members {
		ms = append(ms, fmt.Sprintf("{ address = %q }", m))
	}
	return fmt.Sprintf(`[server]
listen = ["127.0.0.1:0"]
http = %q
%s
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1", "api 60 IN CNAME www"]

[check.c]
%s

[[pool]]
name = "www.lb.test."
policy = %q
ttl = 10
check = "c"
members = [%s]
`, listenHTTP, extra, check, policy, strings.Join(ms, ", "))
}

// addresses returns the A records of an answer.
func addresses(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// TestFailover: a pool of four members checked against real listeners; one
// dies and leaves every answer within fall×interval+timeout, the others
// are served all along and no answer is empty; it comes back within
// rise×interval+timeout. For each check type, and an HTTP check whose
// status turns to 503.
func TestFailover(t *testing.T) {
	for i, kind := range []string{"tcp", "http", "https", "dns", "http-503"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			backendKind := strings.TrimSuffix(kind, "-503")
			hosts := []string{}
			for j := 1; j <= 4; j++ {
				hosts = append(hosts, fmt.Sprintf("127.0.%d.%d", 10+i, j))
			}
			bs, port := testutil.Backends(t, backendKind, hosts...)
			dir := t.TempDir()
			check := fmt.Sprintf("type = %q\nport = %d\ninterval = %q\ntimeout = %q\nrise = %d\nfall = %d\n", backendKind, port, foInterval, foTimeout, foRise, foFall)
			switch backendKind {
			case "https":
				check += fmt.Sprintf("host = \"example.com\"\nca_file = %q\n", testutil.WriteCA(t, dir))
			case "dns":
				check += "name = \"probe.test.\"\n"
			}
			cfg := testutil.WriteFiles(t, map[string]string{"dnslb.toml": poolConfig("", check, "all", hosts, "")})
			ts := start(t, cfg+"/dnslb.toml", Options{})
			testutil.WaitFor(t, 20*time.Second, "all four members served", func() bool {
				return len(addresses(ts.ask(t, "udp", "www.lb.test.", dns.TypeA))) == 4
			})
			victim := bs[0]
			down := func() {
				switch kind {
				case "http-503":
					victim.Status.Store(503)
				default:
					victim.Stop()
				}
			}
			up := func() {
				switch kind {
				case "http-503":
					victim.Status.Store(200)
				default:
					victim.MustRestart(t)
				}
			}
			withdraw := foFall*foInterval + foTimeout
			restore := foRise*foInterval + foTimeout
			// Every answer is judged against when the victim changed, as
			// the soak judges them: not served past the bound once down,
			// never empty, no other member left out.
			tl := testutil.NewTimeline(len(hosts), time.Now())
			judge := testutil.NewJudge(tl, len(hosts), withdraw+foMargin, restore+foMargin)
			took := ts.watch(t, judge, hosts, down, 0, false)
			t.Logf("%s: withdrawn after %v (bound %v)", kind, took.Round(time.Millisecond), withdraw)
			took = ts.watch(t, judge, hosts, up, 0, true)
			t.Logf("%s: restored after %v (bound %v)", kind, took.Round(time.Millisecond), restore)
		})
	}
}

// watch applies change to member victim of hosts, records it in the
// judge's timeline, then queries continuously until the victim is present
// (want) or absent, judging every answer; it fails on any stale, empty or
// missing answer, or when the change takes longer than the judge's bound.
// It returns how long the change took to show.
func (ts *testServer) watch(t *testing.T, judge *testutil.Judge, hosts []string, change func(), victim int, want bool) time.Duration {
	t.Helper()
	change()
	start := time.Now()
	judge.TL.Record(victim, want, "stopped", start)
	limit := judge.Detect
	if want {
		limit = judge.RiseDetect
	}
	ask := func() bool {
		sent := time.Now()
		got := addresses(ts.ask(t, "udp", "www.lb.test.", dns.TypeA))
		present := make([]bool, len(hosts))
		for i, h := range hosts {
			present[i] = slices.Contains(got, h)
		}
		judge.Answer(sent, present)
		// Members other than the victim are up all along: none may be
		// left out, whatever the judge's bound for a return.
		for i := range hosts {
			if i != victim && !present[i] {
				t.Fatalf("answer %v lacks healthy member %s", got, hosts[i])
			}
		}
		if judge.Stale+judge.Empty+judge.Missing > 0 {
			t.Fatalf("judged: %d stale, %d empty, %d missing: %v", judge.Stale, judge.Empty, judge.Missing, judge.Examples)
		}
		return present[victim]
	}
	for ask() != want {
		if time.Since(start) > limit {
			t.Fatalf("%s still present=%v after %v", hosts[victim], !want, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	for range 20 { // it stays so
		if ask() != want {
			t.Fatalf("%s flapped back", hosts[victim])
		}
		time.Sleep(5 * time.Millisecond)
	}
	return took
}
