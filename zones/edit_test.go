package zones

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
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

// rebuild is Edit done the slow way: every record into a new Builder. The
// test below holds Edit to it.
func rebuild(z *Zone, names map[string][]dns.RR) (*Zone, error) {
	b := NewBuilder(z.Origin)
	b.recs.size, b.names.size = 1<<16, 1<<12 // small zones: small arenas
	for name, n := range z.nodes {
		if _, ok := names[name]; !ok {
			for off := 0; off < len(n.data); {
				_, next := n.record(off)
				b.file(name, n.data[off:next], Pos{})
				off = next
			}
		}
		for _, d := range n.Dynamics() {
			b.AddDynamic(name, d.Type, d.ID, Pos{})
		}
	}
	for _, rrs := range names {
		for _, rr := range rrs {
			b.Add(dns.Copy(rr), Pos{})
		}
	}
	return b.Build()
}

// describe renders everything a lookup reads of z.
func describe(z *Zone) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "len %d soa %v neg %v apex %s\n", z.Len(), z.SOA, z.NegativeSOA, z.Apex.Name)
	for _, name := range z.Names() {
		n := z.Node(name)
		fmt.Fprintf(&sb, "%s cut=%v occluded=%v dname=%v empty=%v dyn=%v data=%x\n", name, n.Cut, n.Occluded, n.DName, n.Empty(), n.Dynamics(), n.data)
	}
	return sb.String()
}

// TestEditMatchesRebuild: random edits of a zone with delegations, glue,
// empty non-terminals, CNAMEs and pools give, through Edit, the zone a
// full rebuild gives — or both refuse.
func TestEditMatchesRebuild(t *testing.T) {
	b := NewBuilder("lb.example.")
	for _, s := range []string{
		"@ 3600 IN SOA ns1 h 1 3600 600 604800 300", "@ 3600 IN NS ns1", "ns1 IN A 192.0.2.1",
		"a.b.c IN TXT deep", "sub IN NS ns.sub", "ns.sub IN A 192.0.2.9", "x.y.sub IN A 192.0.2.8",
		"alias IN CNAME ns1", "*.wild IN TXT w", "m IN MX 10 ns1",
	} {
		b.AddText(s, Pos{})
	}
	b.AddDynamic("www.lb.example.", dns.TypeA, 0, Pos{})
	b.AddDynamic("pool.deep.lb.example.", dns.TypeAAAA, 1, Pos{})
	base, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	owners := []string{"lb.example.", "ns1", "a.b.c", "b.c", "c", "sub", "ns.sub", "x.y.sub", "y.sub", "alias", "www", "deep", "pool.deep", "new", "n.e.w", "q.sub", "wild", "*.wild", "m"}
	values := []string{"TXT t1", "TXT t2", "A 192.0.2.50", "NS ns.elsewhere.", "CNAME ns1", "AAAA 2001:db8::1", "MX 5 ns1", "SOA ns1 h 9 3600 600 604800 300", "DNAME elsewhere."}
	before := describe(base)
	rng := rand.New(rand.NewPCG(1, 2))
	agreed, refused := 0, 0
	for i := range 1000 {
		z := base
		for range 1 + rng.IntN(3) { // a few edits in a row, each over the last
			names := map[string][]dns.RR{}
			for range 1 + rng.IntN(3) {
				o := owners[rng.IntN(len(owners))]
				name := o
				if o != "lb.example." {
					name = o + ".lb.example."
				}
				var rrs []dns.RR
				for range rng.IntN(3) {
					rr, err := dns.NewRR(name + " 60 IN " + values[rng.IntN(len(values))])
					if err != nil {
						t.Fatal(err)
					}
					rrs = append(rrs, rr)
				}
				names[name] = rrs
			}
			want, werr := rebuild(z, names)
			got, gerr := z.Edit(names)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("case %d: rebuild error %v, Edit error %v for %v", i, werr, gerr, names)
			}
			if werr != nil {
				refused++
				break
			}
			if d, w := describe(got), describe(want); d != w {
				t.Fatalf("case %d: %v\nEdit:\n%s\nrebuild:\n%s", i, names, d, w)
			}
			agreed++
			z = got
		}
	}
	if describe(base) != before {
		t.Fatal("Edit changed the zone it was given")
	}
	if agreed < 500 || refused < 50 {
		t.Fatalf("too few cases of each kind: %d agreed, %d refused", agreed, refused)
	}
	t.Logf("%d edits agreed, %d refused by both", agreed, refused)
}
