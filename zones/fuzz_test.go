package zones

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// FuzzZone builds zone "example." from any text. Seeds are raw zone files
// in ../testdata/fuzz/FuzzZone/; every crash found is kept there under a
// name that says what it was.
//
// Inputs with $INCLUDE are skipped: they would read whatever file the
// fuzzer names, which makes runs depend on the machine. So are inputs with
// $GENERATE: one line makes 65536 records, each with its empty
// non-terminals, which takes seconds to build and stalls the fuzzer.
func FuzzZone(f *testing.F) {
	testutil.AddSeeds(f, filepath.Join("..", "testdata", "fuzz", "FuzzZone"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if up := bytes.ToUpper(data); bytes.Contains(up, []byte("$INCLUDE")) || bytes.Contains(up, []byte("$GENERATE")) {
			t.Skip("$INCLUDE and $GENERATE are not fuzzed")
		}
		b := NewBuilder("example.")
		b.AddText(string(data), Pos{File: "f", Line: 1})
		z, err := b.Build()
		if err != nil {
			return
		}
		all := z.Names()
		stored := 0
		for _, n := range all {
			for _, qt := range z.Node(n).Types() {
				stored += len(z.Node(n).RRset(qt))
			}
		}
		if stored != z.Len() {
			t.Fatalf("the zone holds %d records, its nodes give back %d", z.Len(), stored)
		}
		names := all
		if len(names) > 40 {
			names = names[:40]
		}
		qnames := []string{"example.", "www.example.", "*.example.", "a.b.c.example.", `a\.b.example.`}
		for _, n := range names {
			qnames = append(qnames, n, "zz."+n)
		}
		types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeNS, dns.TypeSOA, dns.TypeCNAME, dns.TypeDS, dns.TypeMX, dns.TypeTXT, dns.TypeANY, 65000}
		for _, qn := range qnames {
			if !z.Contains(qn) {
				continue
			}
			for _, qt := range types {
				checkResult(t, z, qn, qt, z.Lookup(qn, qt))
			}
		}
		// Every RRset of a node is found where it lives, as the node's
		// place in the tree says it must be.
		for _, n := range names {
			node := z.Node(n)
			if node == nil {
				t.Fatalf("Names lists %q, Node finds nothing", n)
			}
			for _, qt := range node.Types() {
				r := z.Lookup(n, qt)
				checkResult(t, z, n, qt, r)
				switch {
				case node.Occluded || node.Cut && qt != dns.TypeDS:
					if r.Kind != Referral {
						t.Fatalf("%s %s below or at a cut: %v, want a referral", n, dns.TypeToString[qt], r.Kind)
					}
				case belowDName(z, n):
					if r.Kind != DNAME {
						t.Fatalf("%s %s below a DNAME: %v, want dname", n, dns.TypeToString[qt], r.Kind)
					}
				case qt != dns.TypeCNAME && node.Has(dns.TypeCNAME):
					if r.Kind != CNAME {
						t.Fatalf("%s %s beside a CNAME: %v, want cname", n, dns.TypeToString[qt], r.Kind)
					}
				default:
					if r.Kind != Answer || r.Node != node || !sameRecords(r.Records, node.RRset(qt)) {
						t.Fatalf("%s %s: %v at %v, want its own records", n, dns.TypeToString[qt], r.Kind, r.Node)
					}
				}
			}
		}
	})
}

// belowDName reports whether a DNAME redirects name: one at a strict
// ancestor in the zone that no cut comes before.
func belowDName(z *Zone, name string) bool {
	for p := parent(name); p != "" && z.Contains(p); p = parent(p) {
		if n := z.Node(p); n != nil && n.DName {
			return true
		}
	}
	return false
}

func sameRecords(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			return false
		}
	}
	return true
}

// checkResult holds a lookup result to what its Kind promises.
func checkResult(t *testing.T, z *Zone, qname string, qtype uint16, r Result) {
	t.Helper()
	what := qname + " " + dns.Type(qtype).String()
	if r.Node == nil {
		t.Fatalf("%s: %v without a node", what, r.Kind)
	}
	if !z.Contains(r.Node.Name) {
		t.Fatalf("%s: node %s is outside the zone", what, r.Node.Name)
	}
	switch r.Kind {
	case Answer:
		if len(r.Records) == 0 {
			t.Fatalf("%s: an answer without records", what)
		}
		for _, rr := range r.Records {
			if rr.Header().Rrtype != qtype {
				t.Fatalf("%s: answer holds %v", what, rr)
			}
		}
	case CNAME:
		if len(r.Records) != 1 || r.Records[0].Header().Rrtype != dns.TypeCNAME || qtype == dns.TypeCNAME {
			t.Fatalf("%s: cname result %v", what, r.Records)
		}
	case Referral:
		if !r.Node.Cut || len(r.Records) == 0 || r.Wildcard {
			t.Fatalf("%s: referral at %s (cut %v) with %v", what, r.Node.Name, r.Node.Cut, r.Records)
		}
		if !dns.IsSubDomain(r.Node.Name, qname) || r.Node == z.Apex {
			t.Fatalf("%s: referral at %s, not above the name", what, r.Node.Name)
		}
		for _, rr := range r.Records {
			if rr.Header().Rrtype != dns.TypeNS {
				t.Fatalf("%s: referral holds %v", what, rr)
			}
		}
	case NoData, NXDomain:
		if len(r.Records) != 0 {
			t.Fatalf("%s: %v with records %v", what, r.Kind, r.Records)
		}
		if r.Kind == NXDomain && z.Node(qname) != nil {
			t.Fatalf("%s: NXDOMAIN for a name the zone has", what)
		}
	case DNAME:
		if len(r.Records) != 1 || r.Records[0].Header().Rrtype != dns.TypeDNAME || !r.Node.DName || r.Wildcard {
			t.Fatalf("%s: dname result at %s with %v", what, r.Node.Name, r.Records)
		}
		if !dns.IsSubDomain(r.Node.Name, qname) || r.Node.Name == qname {
			t.Fatalf("%s: dname at %s, not above the name", what, r.Node.Name)
		}
	case Dynamic:
		t.Fatalf("%s: dynamic result in a zone without pools", what)
	default:
		t.Fatalf("%s: unknown kind %d", what, r.Kind)
	}
}
