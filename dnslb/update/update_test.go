package update

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/zones"
)

const origin = "lb.example."

func testZone(t *testing.T) *zones.Zone {
	t.Helper()
	b := zones.NewBuilder(origin)
	for _, s := range []string{
		"@ 3600 IN SOA ns1 h 10 3600 600 604800 300", "@ 3600 IN NS ns1", "@ 3600 IN NS ns2", "ns1 IN A 192.0.2.1", "ns2 IN A 192.0.2.2",
		`_acme-challenge.app 60 IN TXT "old"`, "sub IN NS ns.sub", "ns.sub IN A 192.0.2.9", "alias IN CNAME app",
	} {
		b.AddText(s, zones.Pos{})
	}
	b.AddDynamic("www."+origin, dns.TypeA, 0, zones.Pos{})
	z, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func rrs(t *testing.T, ss ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, s := range ss {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

var policy = Policy{
	{Key: "acme.", Names: []string{"_acme-challenge." + origin, "_acme-challenge.*." + origin}, Types: []uint16{dns.TypeTXT}},
	{Key: "ops.", Names: []string{"*." + origin}, Types: []uint16{dns.TypeA, dns.TypeTXT, dns.TypeNS, dns.TypeCNAME}},
	{Key: "apex.", Names: []string{origin, "www." + origin, "ns.sub." + origin}, Types: []uint16{dns.TypeNS, dns.TypeTXT, dns.TypeA}},
}

// wire sends m through pack and unpack, as a server receives it.
func wire(t *testing.T, m *dns.Msg) *dns.Msg {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var out dns.Msg
	if err := out.Unpack(b); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name   string
		key    string
		build  func(m *dns.Msg)
		rcode  int
		reason string   // in Reason
		has    []string // records present afterwards (TTL aside)
		hasNot []string
	}{
		{"add TXT", "acme.", func(m *dns.Msg) { m.Insert(rrs(t, `_acme-challenge.lb.example. 60 IN TXT "tok"`)) }, dns.RcodeSuccess, "", []string{`_acme-challenge.lb.example. 60 IN TXT "tok"`}, nil},
		{"add TXT below a name (wildcard)", "acme.", func(m *dns.Msg) { m.Insert(rrs(t, `_acme-challenge.a.b.lb.example. 60 IN TXT "tok"`)) }, dns.RcodeSuccess, "", []string{`_acme-challenge.a.b.lb.example. 60 IN TXT "tok"`}, nil},
		{"name not covered", "acme.", func(m *dns.Msg) { m.Insert(rrs(t, `other.lb.example. 60 IN TXT "tok"`)) }, dns.RcodeRefused, "may not change TXT at other.lb.example.", nil, []string{`other.lb.example. 60 IN TXT "tok"`}},
		{"type not covered", "acme.", func(m *dns.Msg) { m.Insert(rrs(t, `_acme-challenge.lb.example. 60 IN A 192.0.2.7`)) }, dns.RcodeRefused, "may not change A", nil, nil},
		{"all or nothing", "acme.", func(m *dns.Msg) {
			m.Insert(rrs(t, `_acme-challenge.lb.example. 60 IN TXT "tok"`, `other.lb.example. 60 IN TXT "tok"`))
		}, dns.RcodeRefused, "", nil, []string{`_acme-challenge.lb.example. 60 IN TXT "tok"`}},
		{"pool A refused even with a rule", "apex.", func(m *dns.Msg) { m.Insert(rrs(t, "www.lb.example. 60 IN A 192.0.2.50")) }, dns.RcodeRefused, "pool", nil, nil},
		{"pool name: delete all refused", "apex.", func(m *dns.Msg) { m.RemoveName(rrs(t, "www.lb.example. 0 IN A 0.0.0.0")) }, dns.RcodeRefused, "pool", nil, nil},
		{"pool name: TXT with an exact rule", "apex.", func(m *dns.Msg) { m.Insert(rrs(t, `www.lb.example. 60 IN TXT "hi"`)) }, dns.RcodeSuccess, "", []string{`www.lb.example. 60 IN TXT "hi"`}, nil},
		{"pool name: TXT through a wildcard", "ops.", func(m *dns.Msg) { m.Insert(rrs(t, `www.lb.example. 60 IN TXT "hi"`)) }, dns.RcodeRefused, "without", nil, nil},
		{"apex NS through a wildcard", "ops.", func(m *dns.Msg) { m.Insert(rrs(t, "x.lb.example. 60 IN NS ns9.other.")) }, dns.RcodeRefused, "without", nil, nil},
		{"apex NS with an exact rule", "apex.", func(m *dns.Msg) { m.Insert(rrs(t, "lb.example. 3600 IN NS ns3.other.")) }, dns.RcodeSuccess, "", []string{"lb.example. 3600 IN NS ns3.other."}, nil},
		{"glue through a wildcard", "ops.", func(m *dns.Msg) { m.Insert(rrs(t, "ns.sub.lb.example. 60 IN A 192.0.2.10")) }, dns.RcodeRefused, "without", nil, nil},
		{"glue with an exact rule", "apex.", func(m *dns.Msg) { m.Insert(rrs(t, "ns.sub.lb.example. 3600 IN A 192.0.2.10")) }, dns.RcodeSuccess, "", []string{"ns.sub.lb.example. 3600 IN A 192.0.2.10"}, nil},
		{"delete RR", "acme.", func(m *dns.Msg) { m.Remove(rrs(t, `_acme-challenge.app.lb.example. 60 IN TXT "old"`)) }, dns.RcodeSuccess, "", nil, []string{`_acme-challenge.app.lb.example. 60 IN TXT "old"`}},
		{"delete RRset", "acme.", func(m *dns.Msg) { m.RemoveRRset(rrs(t, `_acme-challenge.app.lb.example. 0 IN TXT ""`)) }, dns.RcodeSuccess, "", nil, []string{`_acme-challenge.app.lb.example. 60 IN TXT "old"`}},
		{"delete name", "ops.", func(m *dns.Msg) { m.RemoveName(rrs(t, "alias.lb.example. 0 IN A 0.0.0.0")) }, dns.RcodeSuccess, "", nil, []string{"alias.lb.example. 3600 IN CNAME app.lb.example."}},
		{"CNAME beside data is ignored", "ops.", func(m *dns.Msg) { m.Insert(rrs(t, "ns1.lb.example. 60 IN CNAME app.lb.example.")) }, dns.RcodeSuccess, "", []string{"ns1.lb.example. 3600 IN A 192.0.2.1"}, []string{"ns1.lb.example. 60 IN CNAME app.lb.example."}},
		{"prerequisite name in use fails", "acme.", func(m *dns.Msg) {
			m.NameUsed(rrs(t, "nothing.lb.example. 0 IN A 0.0.0.0"))
			m.Insert(rrs(t, `_acme-challenge.lb.example. 60 IN TXT "tok"`))
		}, dns.RcodeNameError, "not in use", nil, []string{`_acme-challenge.lb.example. 60 IN TXT "tok"`}},
		{"prerequisite name not in use fails", "acme.", func(m *dns.Msg) { m.NameNotUsed(rrs(t, "ns1.lb.example. 0 IN A 0.0.0.0")) }, dns.RcodeYXDomain, "in use", nil, nil},
		{"prerequisite RRset exists fails", "acme.", func(m *dns.Msg) { m.RRsetUsed(rrs(t, "ns1.lb.example. 0 IN TXT x")) }, dns.RcodeNXRrset, "", nil, nil},
		{"prerequisite RRset does not exist fails", "acme.", func(m *dns.Msg) { m.RRsetNotUsed(rrs(t, "ns1.lb.example. 0 IN A 0.0.0.0")) }, dns.RcodeYXRrset, "", nil, nil},
		{"prerequisite RRset exists: the pool counts", "acme.", func(m *dns.Msg) { m.RRsetNotUsed(rrs(t, "www.lb.example. 0 IN A 0.0.0.0")) }, dns.RcodeYXRrset, "", nil, nil},
		{"prerequisite value fails", "acme.", func(m *dns.Msg) { m.Used(rrs(t, "ns1.lb.example. 0 IN A 192.0.2.99")) }, dns.RcodeNXRrset, "", nil, nil},
		{"prerequisite value holds", "acme.", func(m *dns.Msg) {
			m.Used(rrs(t, "ns1.lb.example. 0 IN A 192.0.2.1"))
			m.Insert(rrs(t, `_acme-challenge.lb.example. 60 IN TXT "tok"`))
		}, dns.RcodeSuccess, "", []string{`_acme-challenge.lb.example. 60 IN TXT "tok"`}, nil},
		{"outside the zone", "acme.", func(m *dns.Msg) { m.Insert(rrs(t, `_acme-challenge.other.example. 60 IN TXT "tok"`)) }, dns.RcodeNotZone, "outside", nil, nil},
		{"delete with a TTL", "acme.", func(m *dns.Msg) {
			r := rrs(t, `_acme-challenge.lb.example. 60 NONE TXT "tok"`)
			m.Ns = append(m.Ns, r...)
		}, dns.RcodeFormatError, "", nil, nil},
		{"apex SOA and last NS stay", "apex.", func(m *dns.Msg) {
			m.RemoveName(rrs(t, "lb.example. 0 IN A 0.0.0.0"))
		}, dns.RcodeRefused, "", nil, nil}, // NS at the apex needs NS, SOA: apex has no SOA rule
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := testZone(t)
			m := new(dns.Msg)
			m.SetUpdate(origin)
			tc.build(m)
			res := Apply(z, wire(t, m), tc.key, policy)
			if res.Rcode != tc.rcode {
				t.Fatalf("rcode %s (%s), want %s", dns.RcodeToString[res.Rcode], res.Reason, dns.RcodeToString[tc.rcode])
			}
			if !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("reason %q, want it to say %q", res.Reason, tc.reason)
			}
			after := z
			if res.Zone != nil {
				after = res.Zone
				if res.To != z.SOA.Serial+1 || after.SOA.Serial != res.To || res.Del[0].(*dns.SOA).Serial != 10 || res.Add[0].(*dns.SOA).Serial != 11 {
					t.Errorf("serial: %d → %d, diff %v / %v", res.From, res.To, res.Del, res.Add)
				}
				// The journal replays to the same zone.
				again, err := Replay(z, [2][]dns.RR{res.Del, res.Add})
				if err != nil || dump(again) != dump(after) {
					t.Errorf("replay differs (%v):\n%s\nwant\n%s", err, dump(again), dump(after))
				}
			} else if res.Rcode == dns.RcodeSuccess && len(tc.has)+len(tc.hasNot) > 0 && tc.name != "CNAME beside data is ignored" {
				t.Fatal("no new zone")
			}
			for _, s := range tc.has {
				if !present(after, rrs(t, s)[0]) {
					t.Errorf("%s missing", s)
				}
			}
			for _, s := range tc.hasNot {
				if present(after, rrs(t, s)[0]) {
					t.Errorf("%s present", s)
				}
			}
			if res.Rcode != dns.RcodeSuccess && res.Zone != nil {
				t.Error("a failed update made a zone")
			}
		})
	}
}

func present(z *zones.Zone, rr dns.RR) bool {
	n := z.Node(dns.CanonicalName(rr.Header().Name))
	if n == nil {
		return false
	}
	for _, x := range n.RRset(rr.Header().Rrtype) {
		if dns.IsDuplicate(x, rr) {
			return true
		}
	}
	return false
}

func dump(z *zones.Zone) string {
	var b strings.Builder
	for _, name := range z.Names() {
		n := z.Node(name)
		for _, ty := range n.Types() {
			for _, rr := range n.RRset(ty) {
				b.WriteString(rr.String() + "\n")
			}
		}
	}
	return b.String()
}

func TestSerial(t *testing.T) {
	z := testZone(t)
	m := new(dns.Msg)
	m.SetUpdate(origin)
	m.Insert(rrs(t, "lb.example. 3600 IN SOA ns1.lb.example. h.lb.example. 500 3600 600 604800 300"))
	res := Apply(z, wire(t, m), "apexsoa.", Policy{{Key: "apexsoa.", Names: []string{origin}, Types: []uint16{dns.TypeSOA}}})
	if res.Rcode != dns.RcodeSuccess || res.To != 500 {
		t.Fatalf("an SOA moving the serial forward: %s %d", dns.RcodeToString[res.Rcode], res.To)
	}
	m.Ns = rrs(t, "lb.example. 3600 IN SOA ns1.lb.example. h.lb.example. 5 3600 600 604800 300")
	if res := Apply(z, wire(t, m), "apexsoa.", Policy{{Key: "apexsoa.", Names: []string{origin}, Types: []uint16{dns.TypeSOA}}}); res.Zone != nil {
		t.Fatalf("an SOA moving the serial back changed the zone to %d", res.To)
	}
	for _, tc := range []struct {
		a, b uint32
		gt   bool
	}{{1, 0, true}, {0, 1, false}, {0, 0xffffffff, true}, {0x80000000, 0, false}, {0x7fffffff, 0, true}} {
		if SerialGreater(tc.a, tc.b) != tc.gt {
			t.Errorf("SerialGreater(%d, %d) != %v", tc.a, tc.b, tc.gt)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pat, name string
		ok        bool
	}{
		{"_acme-challenge.lb.example.", "_acme-challenge.lb.example.", true},
		{"_acme-challenge.*.lb.example.", "_acme-challenge.www.lb.example.", true},
		{"_acme-challenge.*.lb.example.", "_acme-challenge.a.b.lb.example.", true},
		{"_acme-challenge.*.lb.example.", "_acme-challenge.lb.example.", false},
		{"*.lb.example.", "lb.example.", false},
		{"*.lb.example.", "x.lb.example.", true},
		{"*.lb.example.", "x.other.example.", false},
		{"_acme-challenge.*.lb.example.", "www.lb.example.", false},
	} {
		if Match(tc.pat, tc.name) != tc.ok {
			t.Errorf("Match(%s, %s) != %v", tc.pat, tc.name, tc.ok)
		}
	}
	if CheckPattern("a*.lb.example.", origin) == nil || CheckPattern("x.other.", origin) == nil || CheckPattern("_acme-challenge.*.lb.example.", origin) != nil {
		t.Error("CheckPattern")
	}
}
