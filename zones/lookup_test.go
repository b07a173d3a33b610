package zones

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const testZone = `$ORIGIN example.
$TTL 300
@        IN SOA ns1 hostmaster 1 3600 600 604800 60
@        IN NS  ns1
@        IN NS  ns2.elsewhere.
ns1      IN A   192.0.2.1
www      IN A   192.0.2.10
www      IN AAAA 2001:db8::10
alias    IN CNAME www
a.b.c    IN TXT "deep"
*.wild   IN A   192.0.2.20
*.wild   IN MX  10 mail
host.wild IN A  192.0.2.21
*.cname  IN CNAME www
sub      IN NS  ns.sub
sub      IN DS  12345 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.sub   IN A   192.0.2.30
deeper.sub IN A 192.0.2.31
*        IN TXT "apex wildcard"
dn       IN DNAME elsewhere.
`

func build(t testing.TB, origin, text string) *Zone {
	t.Helper()
	b := NewBuilder(origin)
	b.AddText(text, Pos{File: "test"})
	z, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestLookup(t *testing.T) {
	z := build(t, "example.", testZone)
	tests := []struct {
		qname    string
		qtype    uint16
		kind     Kind
		node     string // the answering node
		wildcard bool
	}{
		{"example.", dns.TypeSOA, Answer, "example.", false},
		{"example.", dns.TypeNS, Answer, "example.", false},
		{"example.", dns.TypeMX, NoData, "example.", false},
		{"www.example.", dns.TypeA, Answer, "www.example.", false},
		{"www.example.", dns.TypeMX, NoData, "www.example.", false},
		{"alias.example.", dns.TypeA, CNAME, "alias.example.", false},
		{"alias.example.", dns.TypeCNAME, Answer, "alias.example.", false},
		// Empty non-terminals exist: NODATA, and they block the apex wildcard.
		{"b.c.example.", dns.TypeA, NoData, "b.c.example.", false},
		{"c.example.", dns.TypeTXT, NoData, "c.example.", false},
		{"x.c.example.", dns.TypeTXT, NXDomain, "c.example.", false},
		{"a.b.c.example.", dns.TypeTXT, Answer, "a.b.c.example.", false},
		// Wildcards: only at the closest encloser, owner becomes the qname.
		{"x.wild.example.", dns.TypeA, Answer, "*.wild.example.", true},
		{"x.y.wild.example.", dns.TypeA, Answer, "*.wild.example.", true},
		{"x.wild.example.", dns.TypeAAAA, NoData, "*.wild.example.", true},
		{"host.wild.example.", dns.TypeA, Answer, "host.wild.example.", false},
		{"host.wild.example.", dns.TypeMX, NoData, "host.wild.example.", false},
		{"x.host.wild.example.", dns.TypeA, NXDomain, "host.wild.example.", false},
		{"*.wild.example.", dns.TypeA, Answer, "*.wild.example.", false},
		{"x.cname.example.", dns.TypeA, CNAME, "*.cname.example.", true},
		{"nope.example.", dns.TypeTXT, Answer, "*.example.", true},
		{"wild.example.", dns.TypeA, NoData, "wild.example.", false},
		// Delegations: referral at and below the cut, DS from the parent side.
		{"sub.example.", dns.TypeA, Referral, "sub.example.", false},
		{"sub.example.", dns.TypeNS, Referral, "sub.example.", false},
		{"sub.example.", dns.TypeDS, Answer, "sub.example.", false},
		{"x.sub.example.", dns.TypeDS, Referral, "sub.example.", false},
		{"ns.sub.example.", dns.TypeA, Referral, "sub.example.", false},
		{"deeper.sub.example.", dns.TypeA, Referral, "sub.example.", false},
		{"nothing.sub.example.", dns.TypeA, Referral, "sub.example.", false},
		// DNAME: names below its owner are redirected; the owner is not.
		{"x.dn.example.", dns.TypeA, DNAME, "dn.example.", false},
		{"a.b.dn.example.", dns.TypeDNAME, DNAME, "dn.example.", false},
		{"dn.example.", dns.TypeDNAME, Answer, "dn.example.", false},
		{"dn.example.", dns.TypeA, NoData, "dn.example.", false},
	}
	for _, tc := range tests {
		t.Run(tc.qname+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			r := z.Lookup(tc.qname, tc.qtype)
			if r.Kind != tc.kind || r.Node == nil || r.Node.Name != tc.node || r.Wildcard != tc.wildcard {
				name := "<nil>"
				if r.Node != nil {
					name = r.Node.Name
				}
				t.Fatalf("got %v at %s wildcard=%v, want %v at %s wildcard=%v", r.Kind, name, r.Wildcard, tc.kind, tc.node, tc.wildcard)
			}
		})
	}
}

func TestLookupWithoutApexWildcard(t *testing.T) {
	z := build(t, "example.", strings.Replace(testZone, `*        IN TXT "apex wildcard"`, "", 1))
	if r := z.Lookup("nope.example.", dns.TypeA); r.Kind != NXDomain {
		t.Fatalf("got %v, want NXDOMAIN", r.Kind)
	}
	if z.NegativeSOA.Hdr.Ttl != 60 || z.SOA.Hdr.Ttl != 300 {
		t.Fatalf("negative SOA TTL %d (want min(300, 60) = 60), SOA TTL %d", z.NegativeSOA.Hdr.Ttl, z.SOA.Hdr.Ttl)
	}
}

func TestRootOriginLookup(t *testing.T) {
	z := build(t, ".", ". 60 IN SOA a. b. 1 2 3 4 5\n. 60 IN NS a.\ncom. 60 IN NS ns.com.\nfoo. 60 IN A 192.0.2.1\n")
	for _, tc := range []struct {
		qname string
		kind  Kind
	}{{".", Answer}, {"foo.", Answer}, {"x.foo.", NXDomain}, {"www.com.", Referral}, {"bar.", NXDomain}} {
		if r := z.Lookup(tc.qname, dns.TypeA); r.Kind != tc.kind && !(tc.qname == "." && r.Kind == NoData) {
			t.Errorf("%s: got %v, want %v", tc.qname, r.Kind, tc.kind)
		}
	}
}

func TestDynamic(t *testing.T) {
	b := NewBuilder("example.")
	b.AddText(testZone, Pos{File: "test"})
	b.AddDynamic("pool.example.", dns.TypeA, 7, Pos{File: "cfg", Line: 3})
	z, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if r := z.Lookup("pool.example.", dns.TypeA); r.Kind != Dynamic || r.DynamicID != 7 {
		t.Fatalf("got %v id %d", r.Kind, r.DynamicID)
	}
	if r := z.Lookup("pool.example.", dns.TypeAAAA); r.Kind != NoData {
		t.Fatalf("AAAA at a pool without AAAA: got %v, want NODATA", r.Kind)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name, text string
		dyn        string // owner of an A pool to add
		want       []string
	}{
		{"no SOA", "@ 60 IN NS ns1\n", "", []string{"has no SOA"}},
		{"no NS", "@ 60 IN SOA a b 1 2 3 4 5\n", "", []string{"has no NS"}},
		{"outside", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\nwww.other. 60 IN A 192.0.2.1\n", "", []string{"test:3:", "outside zone example."}},
		{"cname and data", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\nx 60 IN CNAME www\nx 60 IN A 192.0.2.1\n", "", []string{"a CNAME and a A"}},
		{"cname at apex", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\n@ 60 IN CNAME www\n", "", []string{"CNAME at the zone apex"}},
		{"two SOA", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN SOA a b 2 2 3 4 5\n@ 60 IN NS ns1\n", "", []string{"2 SOA records"}},
		{"SOA below apex", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\nx 60 IN SOA a b 1 2 3 4 5\n", "", []string{"only the zone apex"}},
		{"syntax", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\nwww 60 IN A 192.0.2.300\n", "", []string{"test:3:", `A record: "192.0.2.300" is not a valid IPv4 address`}},
		{"pool and A", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\nwww 60 IN A 192.0.2.1\n", "www.example.", []string{"has A records in the zone and a pool"}},
		{"pool below cut", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\nsub 60 IN NS ns.other.\n", "www.sub.example.", []string{"below the delegation"}},
		{"pool on cname", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\nwww 60 IN CNAME x\n", "www.example.", []string{"is a CNAME and cannot also be a pool"}},
		{"pool below a DNAME", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\nold 60 IN DNAME new\n", "www.old.example.", []string{"cfg:9:", "below the DNAME at old.example."}},
		{"pool below an apex DNAME", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\n@ 60 IN DNAME new.\n", "www.example.", []string{"cfg:9:", "below the DNAME at example."}},
		{"two DNAME", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\nold 60 IN DNAME a\nold 60 IN DNAME b\n", "", []string{"test:3:", "2 DNAME records"}},
		{"RRset over 64 KiB", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\n" + bigTXT(300), "", []string{"test:3:", "300 TXT records, a response of", "at most 65535"}},
		{"class CH", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\nx 60 CH TXT \"a\"\n", "", []string{"class CH"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuilder("example.")
			b.AddText(tc.text, Pos{File: "test", Line: 1})
			if tc.dyn != "" {
				b.AddDynamic(tc.dyn, dns.TypeA, 0, Pos{File: "cfg", Line: 9})
			}
			_, err := b.Build()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestLargestRRset: an RRset whose response just fits a DNS message loads.
func TestLargestRRset(t *testing.T) {
	z := build(t, "example.", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\n"+bigTXT(243))
	if n := len(z.Node("big.example.").RRset(dns.TypeTXT)); n != 243 {
		t.Fatalf("%d records", n)
	}
}

// bigTXT is n TXT records of 256 bytes each at big.example.
func bigTXT(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "big 60 IN TXT \"%04d%s\"\n", i, strings.Repeat("x", 246))
	}
	return b.String()
}

func TestSetFind(t *testing.T) {
	parent := build(t, "example.", testZone)
	child := build(t, "sub.example.", "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns\nns 60 IN A 192.0.2.30\n")
	s, err := NewSet(parent, child)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		qname string
		qtype uint16
		want  string
	}{
		{"www.example.", dns.TypeA, "example."},
		{"sub.example.", dns.TypeA, "sub.example."},
		{"x.sub.example.", dns.TypeA, "sub.example."},
		{"sub.example.", dns.TypeDS, "example."},
		{"x.sub.example.", dns.TypeDS, "sub.example."},
	} {
		if z := s.Find(tc.qname, tc.qtype); z == nil || z.Origin != tc.want {
			t.Errorf("Find(%s %s) = %v, want %s", tc.qname, dns.TypeToString[tc.qtype], z, tc.want)
		}
	}
	if z := s.Find("www.other.", dns.TypeA); z != nil {
		t.Errorf("out-of-zone name found zone %s", z.Origin)
	}
	if _, err := NewSet(parent, parent); err == nil {
		t.Error("duplicate zone accepted")
	}
}

// TestRRsetRoundTrip: records stored in wire form come back as loaded, for
// every type the conformance zone uses, several to an RRset.
func TestRRsetRoundTrip(t *testing.T) {
	text := "@ 60 IN SOA a b 1 2 3 4 5\n@ 60 IN NS ns1\n" +
		"m 60 IN TXT \"aa\" \"a2\"\nm 60 IN TXT \"bb\"\nm 60 IN TXT \"cc\"\nm 60 IN MX 10 mail.other.\nm 60 IN A 192.0.2.1\nm 60 IN AAAA 2001:db8::1\n" +
		"m 60 IN SRV 1 2 3 t.example.\nm 60 IN CAA 0 issue \"ca.example\"\nm 60 IN TYPE65000 \\# 2 abcd\nm 60 IN TXT \"bb\"\n"
	z := build(t, "example.", text)
	n := z.Node("m.example.")
	want := map[uint16][]string{
		dns.TypeTXT: {"m.example.\t60\tIN\tTXT\t\"aa\" \"a2\"", "m.example.\t60\tIN\tTXT\t\"bb\"", "m.example.\t60\tIN\tTXT\t\"cc\""},
		dns.TypeMX:  {"m.example.\t60\tIN\tMX\t10 mail.other."},
		dns.TypeA:   {"m.example.\t60\tIN\tA\t192.0.2.1"},
		dns.TypeSRV: {"m.example.\t60\tIN\tSRV\t1 2 3 t.example."},
		65000:       {"m.example.\t60\tCLASS1\tTYPE65000\t\\# 2 abcd"}, // miekg/dns prints unknown types so
	}
	for typ, w := range want {
		var got []string
		for _, rr := range n.RRset(typ) {
			got = append(got, rr.String())
		}
		if strings.Join(got, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s:\n%s\nwant:\n%s", dns.TypeToString[typ], strings.Join(got, "\n"), strings.Join(w, "\n"))
		}
	}
	if z.Len() != 11+2-2 { // the duplicate TXT "bb" is dropped
		t.Errorf("Len %d", z.Len())
	}
	if !slices.Equal(n.Types(), []uint16{dns.TypeA, dns.TypeMX, dns.TypeTXT, dns.TypeAAAA, dns.TypeSRV, dns.TypeCAA, 65000}) {
		t.Errorf("types %v", n.Types())
	}
}

// TestLookupRecordsOwned: Lookup's records are the caller's (decoded for
// each call, as Result says): changing them, as a wildcard answer renames
// its owners, changes nothing the next lookup sees.
func TestLookupRecordsOwned(t *testing.T) {
	z := build(t, "example.", "@ 60 IN SOA ns1 hm 1 2 3 4 5\n@ 60 IN NS ns1\nns1 60 IN A 192.0.2.1\n* 60 IN A 192.0.2.2\n")
	r := z.Lookup("a.example.", dns.TypeA)
	if !r.Wildcard || len(r.Records) != 1 {
		t.Fatalf("lookup %+v", r)
	}
	r.Records[0].Header().Name = "a.example."
	r.Records[0].(*dns.A).A[3] = 99
	again := z.Lookup("b.example.", dns.TypeA)
	if got := again.Records[0].String(); got != "*.example.\t60\tIN\tA\t192.0.2.2" {
		t.Errorf("after changing one lookup's records the next sees %q", got)
	}
}
