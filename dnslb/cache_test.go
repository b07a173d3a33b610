package dnslb

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// standInConfig has answers that cannot be sent as they are cached: a
// 100-record RRset (truncated over UDP), an MX whose additional records do
// not fit 512 bytes, a referral whose glue does not fit, and a pool whose
// members are all down with when_all_down = "none".
func standInConfig(t testing.TB) string {
	t.Helper()
	zone := largeZone(100) + "@ 300 IN MX 10 mx\n"
	for i := range 40 {
		zone += fmt.Sprintf("mx 300 IN A 10.1.0.%d\n", i)
	}
	for i := range 20 {
		zone += fmt.Sprintf("sub 300 IN NS ns%d.sub\nns%d.sub 300 IN A 10.2.0.%d\n", i, i, i)
	}
	dir := testutil.WriteFiles(t, map[string]string{
		"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = ""
[[zone]]
origin = "big.test."
file = "big.zone"
[check.down]
type = "tcp"
port = 9
interval = "1h"
initial = "down"
[[pool]]
name = "none.big.test."
check = "down"
when_all_down = "none"
members = [{ address = "192.0.2.80" }]
`,
		"big.zone": zone,
	})
	return dir + "/dnslb.toml"
}

// TestCachedStandIns (issue 19): an answer cached but not sendable as it
// is — truncated, without its additional records, or NODATA for a pool
// with nothing to serve — is answered from the cache without resolving or
// allocating again, and the cache holds each question once.
func TestCachedStandIns(t *testing.T) {
	srv, err := New(standInConfig(t), Options{Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.closeListeners()
	src := netip.MustParseAddrPort("192.0.2.99:5353")
	for _, tc := range []struct {
		name  string
		qtype uint16
		edns  bool
		check func(r *dns.Msg) bool
	}{
		{"n100.big.test.", dns.TypeA, true, func(r *dns.Msg) bool { return r.Truncated && len(r.Answer) == 0 }},
		{"big.test.", dns.TypeMX, false, func(r *dns.Msg) bool { return !r.Truncated && len(r.Answer) == 1 && len(r.Extra) == 0 }},
		{"x.sub.big.test.", dns.TypeA, false, func(r *dns.Msg) bool { return r.Truncated && len(r.Ns) == 20 && len(r.Extra) == 0 }},
		{"none.big.test.", dns.TypeA, true, func(r *dns.Msg) bool { return r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0 && len(r.Ns) == 1 }},
	} {
		t.Run(tc.name+dns.TypeToString[tc.qtype], func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion(tc.name, tc.qtype)
			if tc.edns {
				m.SetEdns0(1232, false)
			}
			req, _ := m.Pack()
			w := newWorker(srv, false, srv.newStats())
			for range 3 {
				var r dns.Msg
				if err := r.Unpack(w.serve(req, src)); err != nil || !tc.check(&r) {
					t.Fatalf("response %v (%v)", &r, err)
				}
			}
			if n := testutil.AllocsPerRun(100, func() { w.serve(req, src) }); n != 0 {
				t.Errorf("%.0f allocations per query: the stand-in is built again each time", n)
			}
			key, _ := parseQuery(req, &query{}, nil)
			held := 0
			for i := range srv.snap.Load().cache.slots {
				if a := srv.snap.Load().cache.slots[i].Load(); a != nil && a.key == string(key) {
					held++
				}
			}
			if held != 1 {
				t.Errorf("the cache holds the question %d times", held)
			}
		})
	}
}
