package update

import (
	"path/filepath"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// FuzzUpdate applies any message to a zone with a rule allowing every
// name and common type: it must never panic, a failed update must change
// nothing, and an accepted one must replay from its difference to the
// same zone (what the journal relies on).
func FuzzUpdate(f *testing.F) {
	testutil.AddSeeds(f, filepath.Join("..", "..", "testdata", "fuzz", "FuzzUpdate"))
	all := Policy{{Key: "k.", Names: []string{origin, "*." + origin}, Types: []uint16{
		dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeCNAME, dns.TypeNS, dns.TypeMX, dns.TypeSOA, dns.TypeSRV, dns.TypeDNAME, dns.TypeDS,
	}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m dns.Msg
		if m.Unpack(data) != nil {
			return
		}
		z := testZone(t)
		before := dump(z)
		res := Apply(z, &m, "k.", all)
		if dump(z) != before {
			t.Fatal("Apply changed the zone it was given")
		}
		if res.Zone == nil {
			return
		}
		if res.Rcode != dns.RcodeSuccess {
			t.Fatalf("rcode %d with a new zone", res.Rcode)
		}
		again, err := Replay(z, [2][]dns.RR{res.Del, res.Add})
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if dump(again) != dump(res.Zone) {
			t.Fatalf("replay differs:\n%s\nwant\n%s", dump(again), dump(res.Zone))
		}
		if !SerialGreater(res.To, res.From) {
			t.Fatalf("serial %d → %d", res.From, res.To)
		}
	})
}
