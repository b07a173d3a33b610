package dnslb

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// knotPrimary is Knot serving a zone file as a primary, for comparison.
const knotPrimary = "127.0.8.4:53"

// TestTransferLarge: a zone of 100,000 records transfers whole and equal
// to what Knot, as the primary of the same file, sends; both times are
// logged (under -race dnslb is several times slower than its build).
func TestTransferLarge(t *testing.T) {
	const n = 100000
	var zone strings.Builder
	zone.WriteString("$ORIGIN big.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 604800 60\n@ IN NS ns1\nns1 IN A 192.0.2.1\n")
	for i := range n - 3 {
		fmt.Fprintf(&zone, "h%d IN A 10.%d.%d.%d\n", i, i>>16&255, i>>8&255, i&255)
	}
	dir := testutil.WriteFiles(t, map[string]string{
		"big.zone": zone.String(),
		"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = ""
[[zone]]
origin = "big.test."
file = "big.zone"
transfer = [{ addresses = ["127.0.0.0/8"] }]
`,
	})
	ts := start(t, dir+"/dnslb.toml", Options{})
	testutil.WaitFor(t, 30*time.Second, "the zone published", func() bool {
		x := ts.xfr.get("big.test.")
		return x != nil && x.pub.Load() != nil
	})
	testutil.StartKnot(t, testutil.Knot{
		Listen: knotPrimary,
		Config: fmt.Sprintf(`acl:
  - id: all
    address: 127.0.0.0/8
    action: transfer
zone:
  - domain: big.test.
    file: %q
    acl: all
    zonefile-sync: -1
    journal-content: none
`, filepath.Join(dir, "big.zone")),
	})
	testutil.WaitFor(t, 30*time.Second, "Knot loaded the zone", func() bool {
		r, err := askAt(knotPrimary, "big.test.", dns.TypeSOA)
		return err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1
	})
	best := func(addr string) (time.Duration, []dns.RR) {
		var min time.Duration
		var recs []dns.RR
		for range 3 {
			start := time.Now()
			r, err := xfrClient(addr, "big.test.", "", "", 0)
			d := time.Since(start)
			if err != nil {
				t.Fatalf("AXFR from %s: %v", addr, err)
			}
			if min == 0 || d < min {
				min = d
			}
			recs = r
		}
		return min, recs
	}
	ours, ourRecs := best(ts.addr)
	knots, knotRecs := best(knotPrimary)
	if len(ourRecs) != n+1 || len(knotRecs) != n+1 {
		t.Fatalf("transferred %d records, Knot %d, want %d", len(ourRecs), len(knotRecs), n+1)
	}
	a, b := map[string]bool{}, map[string]bool{}
	for i := range ourRecs {
		a[ourRecs[i].String()], b[knotRecs[i].String()] = true, true
	}
	for k := range a {
		if !b[k] {
			t.Fatalf("dnslb sent %q, Knot did not", k)
		}
	}
	t.Logf("AXFR of %d records (best of 3, miekg/dns client): dnslb %v, Knot %v: %.2f× Knot's time", n, ours.Round(time.Millisecond), knots.Round(time.Millisecond), float64(ours)/float64(knots))
}
