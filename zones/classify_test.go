package zones

import (
	"bytes"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestClassifyMatchesLookup: Classify finds what Lookup finds, for every
// kind of name and type of the test zone and names that do not exist, and
// Wire holds the records RRset decodes.
func TestClassifyMatchesLookup(t *testing.T) {
	z := build(t, "example.", testZone+"old IN DNAME example.\n")
	b := NewBuilder("lb.example.")
	b.AddText("@ IN SOA ns1 hm 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n", Pos{File: "test"})
	b.AddDynamic("*.pool.lb.example.", dns.TypeA, 7, Pos{File: "test"})
	dz, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"example.", "www.example.", "nope.example.", "x.y.nope.example.", "alias.example.", "c.example.", "b.c.example.",
		"a.b.c.example.", "x.wild.example.", "a.b.wild.example.", "host.wild.example.", "wild.example.", "x.cname.example.",
		"sub.example.", "x.sub.example.", "deeper.sub.example.", "ns1.example.", "old.example.", "x.old.example.", "a.b.old.example."}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX, dns.TypeNS, dns.TypeSOA, dns.TypeCNAME}
	for _, name := range names {
		for _, qt := range types {
			want := z.Lookup(name, qt)
			kind, node, wild := z.Classify([]byte(name), qt)
			if kind != want.Kind || node != want.Node || wild != want.Wildcard {
				t.Errorf("%s %s: classify %v %v %v, lookup %v %v %v", name, dns.TypeToString[qt], kind, node.Name, wild, want.Kind, want.Node.Name, want.Wildcard)
			}
			classifyChildren(t, z, name, qt)
			if kind == Answer {
				var packed []byte
				for _, rr := range want.Records {
					buf := make([]byte, 512)
					off, err := dns.PackRR(rr, buf, 0, nil, false)
					if err != nil {
						t.Fatal(err)
					}
					_, n, _ := dns.UnpackDomainName(buf, 0)
					packed = append(packed, buf[n:off]...)
				}
				if !bytes.Equal(node.Wire(qt), packed) {
					t.Errorf("%s %s: wire % x, want % x", name, dns.TypeToString[qt], node.Wire(qt), packed)
				}
			}
		}
	}
	if kind, node, wild := dz.Classify([]byte("x.pool.lb.example."), dns.TypeA); kind != Dynamic || !wild || node.DynamicID(dns.TypeA) != 7 {
		t.Errorf("dynamic wildcard: %v %v %v", kind, wild, node)
	}
	// An edit adds names of lengths the zone had none of, and a wildcard
	// under a new encloser: Classify's filters know them.
	ez, err := z.Edit(map[string][]dns.RR{
		"a-name-of-a-length-never-seen-before.example.": {mustRR(t, "a-name-of-a-length-never-seen-before.example. 300 IN A 192.0.2.9")},
		"*.an-unusually-long-encloser.example.":         {mustRR(t, "*.an-unusually-long-encloser.example. 300 IN TXT \"w\"")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a-name-of-a-length-never-seen-before.example.", "x.an-unusually-long-encloser.example.", "an-unusually-long-encloser.example.", "x.y.an-unusually-long-encloser.example."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeTXT} {
			want := ez.Lookup(name, qt)
			if kind, node, wild := ez.Classify([]byte(name), qt); kind != want.Kind || node != want.Node || wild != want.Wildcard {
				t.Errorf("after an edit, %s %s: classify %v %v %v, lookup %v %v %v", name, dns.TypeToString[qt], kind, node.Name, wild, want.Kind, want.Node.Name, want.Wildcard)
			}
			classifyChildren(t, ez, name, qt)
		}
	}
	s, _ := NewSet(z, dz)
	for name, want := range map[string]*Zone{"x.lb.example.": dz, "lb.example.": dz, "www.example.": z, "example.": z, "other.": nil} {
		if got := s.FindBytes([]byte(name)); got != want {
			t.Errorf("FindBytes(%s) = %v", name, got)
		}
	}
}

// classifyChildren checks ClassifyParent against Lookup for name, and
// ClassifyChild under the parent it returns against Lookup for name and for
// siblings of name: new labels, and a label of every node's length.
func classifyChildren(t *testing.T, z *Zone, name string, qt uint16) {
	t.Helper()
	want := z.Lookup(name, qt)
	kind, node, wild, p := z.ClassifyParent([]byte(name), qt)
	if kind != want.Kind || node != want.Node || wild != want.Wildcard {
		t.Errorf("%s %s: ClassifyParent %v %v %v, lookup %v %v %v", name, dns.TypeToString[qt], kind, node.Name, wild, want.Kind, want.Node.Name, want.Wildcard)
	}
	if p == nil {
		return
	}
	parent := name[len(dns.SplitDomainName(name)[0])+1:]
	if parent == "" {
		parent = "."
	}
	if p.Name != parent {
		t.Fatalf("%s: parent %s, want %s", name, p.Name, parent)
	}
	siblings := []string{name, "zz-new." + parent, "*." + parent}
	for n := range z.nodes {
		if l := len(n) - len(parent) - 1; l > 0 && l < 64 {
			siblings = append(siblings, strings.Repeat("q", l)+"."+parent)
			if strings.HasSuffix(n, "."+parent) && !strings.Contains(n[:l], ".") {
				siblings = append(siblings, n) // a real child
			}
		}
	}
	for _, sib := range siblings {
		want := z.Lookup(sib, qt)
		if kind, node, wild := z.ClassifyChild(p, z.Wildcard(p), z.NodeBytes([]byte(sib)), qt); kind != want.Kind || node != want.Node || wild != want.Wildcard {
			t.Errorf("%s %s below %s: ClassifyChild %v %v %v, lookup %v %v %v", sib, dns.TypeToString[qt], parent, kind, node.Name, wild, want.Kind, want.Node.Name, want.Wildcard)
		}
	}
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}
