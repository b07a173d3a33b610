package zones

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/miekg/dns"
)

func TestEdit(t *testing.T) {
	b := NewBuilder("lb.example.")
	for _, s := range []string{
		"@ 3600 IN SOA ns1 h 1 3600 600 604800 300", "@ 3600 IN NS ns1", "ns1 IN A 192.0.2.1",
		"old IN TXT gone", "keep IN TXT kept", "sub IN NS ns.other.",
	} {
		b.AddText(s, Pos{})
	}
	b.AddDynamic("www.lb.example.", dns.TypeA, 7, Pos{})
	z, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	add, _ := dns.NewRR("new.lb.example. 60 IN TXT fresh")
	www, _ := dns.NewRR("www.lb.example. 60 IN TXT beside-the-pool")
	z2, err := z.Edit(map[string][]dns.RR{"old.lb.example.": nil, "new.lb.example.": {add}, "www.lb.example.": {www}})
	if err != nil {
		t.Fatal(err)
	}
	if z2.Node("old.lb.example.") != nil || z.Node("old.lb.example.") == nil {
		t.Error("old: deleted in the copy only")
	}
	if rrs := z2.Node("new.lb.example.").RRset(dns.TypeTXT); len(rrs) != 1 || z.Node("new.lb.example.") != nil {
		t.Errorf("new: %v", rrs)
	}
	if rrs := z2.Node("keep.lb.example.").RRset(dns.TypeTXT); len(rrs) != 1 {
		t.Errorf("keep: %v", rrs)
	}
	if id, ok := z2.Node("www.lb.example.").Dynamic(dns.TypeA); !ok || id != 7 || !z2.Node("www.lb.example.").Has(dns.TypeTXT) {
		t.Error("www lost its pool or did not get its TXT")
	}
	if !z2.Node("sub.lb.example.").Cut || z2.SOA == nil || z2.Len() != z.Len()+1 {
		t.Errorf("cut %v, SOA %v, len %d want %d", z2.Node("sub.lb.example.").Cut, z2.SOA, z2.Len(), z.Len()+1)
	}
}

// BenchmarkEdit is the cost of one run-time change to a zone of 100,000
// records: the whole zone is copied (in wire form) into the new one.
func BenchmarkEdit(b *testing.B) {
	bl := NewBuilder("big.example.")
	bl.AddText("@ 3600 IN SOA ns1 h 1 3600 600 604800 300", Pos{})
	bl.AddText("@ 3600 IN NS ns1", Pos{})
	for i := range 100000 {
		bl.Add(&dns.A{Hdr: dns.RR_Header{Name: fmt.Sprintf("h%d.big.example.", i), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: []byte{192, 0, byte(i / 256), byte(i)}}, Pos{})
	}
	z, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	rr, _ := dns.NewRR(`_acme-challenge.big.example. 60 IN TXT "x"`)
	runtime.GC()
	b.ResetTimer()
	for range b.N {
		if _, err := z.Edit(map[string][]dns.RR{"_acme-challenge.big.example.": {rr}}); err != nil {
			b.Fatal(err)
		}
	}
}
