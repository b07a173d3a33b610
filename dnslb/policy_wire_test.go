package dnslb

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// wireConfig has a pool of every policy, for the on-the-wire tests. The
// checks' probes are fakes (see startPolicyServer) and their interval so
// long that only the first probe counts.
const wireConfig = `
[server]
listen = ["127.0.0.1:0"]
http = ""

[[zone]]
origin = "lb.test."
records = [
  "@ 300 IN SOA ns1 hostmaster 1 3600 600 604800 60",
  "@ 300 IN NS ns1",
  "ns1 300 IN A 192.0.2.1",
  "alias 300 IN CNAME all",
  "alias2 300 IN CNAME alias",
  "tonone 300 IN CNAME none",
  "v4 300 IN TXT \"v4 only\"",
  "sub 300 IN NS ns.sub",
  "ns.sub 300 IN A 192.0.2.53",
]

[check.tcp]
type = "tcp"
port = 9
interval = "1h"

[check.web]
type = "http"
load_header = "X-Load"
interval = "1h"

[[pool]]
name = "rr.lb.test."
policy = "round_robin"
members = [
  { address = "192.0.2.10" }, { address = "192.0.2.11" }, { address = "192.0.2.12" },
  { address = "2001:db8::10" }, { address = "2001:db8::11" },
]

[[pool]]
name = "w.lb.test."
policy = "weighted"
answers = 1
members = [{ address = "192.0.2.20", weight = 3 }, { address = "192.0.2.21", weight = 1 }, { address = "2001:db8::20" }]

[[pool]]
name = "fo.lb.test."
policy = "failover"
members = [{ address = "192.0.2.31", priority = 2 }, { address = "192.0.2.30", priority = 1 }]

[[pool]]
name = "h.lb.test."
policy = "hash"
answers = 1
members = [
  { address = "192.0.2.40" }, { address = "192.0.2.41" }, { address = "192.0.2.42" }, { address = "192.0.2.43" },
  { address = "2001:db8::40" }, { address = "2001:db8::41" }, { address = "2001:db8::42" },
]

[[pool]]
name = "fast.lb.test."
policy = "fastest"
check = "tcp"
members = [{ address = "192.0.2.50" }, { address = "192.0.2.51" }, { address = "192.0.2.52" }]

[[pool]]
name = "load.lb.test."
policy = "least_load"
check = "web"
members = [{ address = "192.0.2.60" }, { address = "192.0.2.61" }, { address = "192.0.2.62" }]

[[pool]]
name = "all.lb.test."
policy = "all"
ttl = 45
members = [{ address = "192.0.2.72" }, { address = "192.0.2.70" }, { address = "192.0.2.71" }, { address = "2001:db8::70" }]

[[pool]]
name = "v4.lb.test."
members = [{ address = "192.0.2.75" }]

[[pool]]
name = "none.lb.test."
when_all_down = "none"
members = [{ address = "192.0.2.80" }, { address = "2001:db8::80" }]

[[pool]]
name = "fb.lb.test."
when_all_down = "pool:all.lb.test."
members = [{ address = "192.0.2.90" }]
`

const lbNegSOA = "lb.test. 60 IN SOA ns1.lb.test. hostmaster.lb.test. 1 3600 600 604800 60"

// startPolicyServer runs wireConfig with fake probes: fast.lb.test.'s
// members answer in 30, 10 and 20 ms; load.lb.test.'s report loads 5, 1 and
// none. Every target is probed before the first query.
func startPolicyServer(t testing.TB) *testServer {
	t.Helper()
	ts, _ := startPolicyServerProbe(t)
	return ts
}

// startPolicyServerProbe is startPolicyServer, with the fake probe whose
// figures a test may change.
func startPolicyServerProbe(t testing.TB) (*testServer, *fakeProbe) {
	t.Helper()
	probe := newFakeProbe()
	probe.set("192.0.2.50", fakeFigures{rtt: 30 * time.Millisecond})
	probe.set("192.0.2.51", fakeFigures{rtt: 10 * time.Millisecond})
	probe.set("192.0.2.52", fakeFigures{rtt: 20 * time.Millisecond})
	probe.set("192.0.2.60", fakeFigures{load: 5})
	probe.set("192.0.2.61", fakeFigures{load: 1})
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": wireConfig})
	ts := start(t, dir+"/dnslb.toml", Options{Probe: probe.probe})
	for _, tg := range ts.prober.Targets() {
		ts.prober.CheckNow(context.Background(), tg)
	}
	return ts, probe
}

// poolQuery asks qname/qtype over netw, edit changing the query first, and
// checks what every pooled answer shares: NOERROR, AA, and address
// records owned by owner with the pool's TTL.
func (ts *testServer) poolQuery(t *testing.T, netw, qname string, qtype uint16, edit func(*dns.Msg)) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.SetEdns0(1232, false)
	if edit != nil {
		edit(m)
	}
	r := ts.exchange(t, netw, m)
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || r.Truncated {
		t.Fatalf("%s %s: rcode %s AA %v TC %v", qname, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], r.Authoritative, r.Truncated)
	}
	return r
}

// addrsIn returns the addresses of the A/AAAA records of rrs owned by
// owner, failing on any with another TTL.
func addrsIn(t *testing.T, rrs []dns.RR, owner string, ttl uint32) []string {
	t.Helper()
	var out []string
	for _, rr := range rrs {
		var a net.IP
		switch rr := rr.(type) {
		case *dns.A:
			a = rr.A
		case *dns.AAAA:
			a = rr.AAAA
		default:
			continue
		}
		if h := rr.Header(); !strings.EqualFold(h.Name, owner) || h.Ttl != ttl {
			t.Errorf("record %v: want owner %s, TTL %d", rr, owner, ttl)
		}
		addr, _ := netip.AddrFromSlice(a)
		out = append(out, addr.Unmap().String())
	}
	return out
}

// TestPolicyWire runs each policy against the real server over UDP and TCP.
func TestPolicyWire(t *testing.T) {
	ts := startPolicyServer(t)
	answer := func(t *testing.T, netw, qname string, qtype uint16, ttl uint32) []string {
		t.Helper()
		r := ts.poolQuery(t, netw, qname, qtype, nil)
		return addrsIn(t, r.Answer, qname, ttl)
	}
	tests := []struct {
		name string
		run  func(t *testing.T, netw string)
	}{
		{"round_robin A rotates", func(t *testing.T, netw string) {
			v4 := []string{"192.0.2.10", "192.0.2.11", "192.0.2.12"}
			firsts := map[string]bool{}
			for range 3 {
				got := answer(t, netw, "rr.lb.test.", dns.TypeA, 30)
				start := slices.Index(v4, got[0])
				if len(got) != 3 || start < 0 || got[1] != v4[(start+1)%3] || got[2] != v4[(start+2)%3] {
					t.Fatalf("%v is not %v rotated", got, v4)
				}
				firsts[got[0]] = true
			}
			if len(firsts) != 3 {
				t.Errorf("first members over 3 queries: %v, want each once", firsts)
			}
		}},
		{"round_robin AAAA from the IPv6 members", func(t *testing.T, netw string) {
			a, b := answer(t, netw, "rr.lb.test.", dns.TypeAAAA, 30), answer(t, netw, "rr.lb.test.", dns.TypeAAAA, 30)
			if len(a) != 2 || len(b) != 2 || a[0] == b[0] || !slices.Contains(a, "2001:db8::10") || !slices.Contains(a, "2001:db8::11") {
				t.Errorf("%v then %v, want both IPv6 members, rotating", a, b)
			}
		}},
		{"weighted 3:1, one answer", func(t *testing.T, netw string) {
			n := map[string]int{}
			for range 8 {
				got := answer(t, netw, "w.lb.test.", dns.TypeA, 30)
				if len(got) != 1 {
					t.Fatalf("%v: answers = 1", got)
				}
				n[got[0]]++
			}
			if n["192.0.2.20"] != 6 || n["192.0.2.21"] != 2 {
				t.Errorf("firsts over 8 queries %v, want 6 and 2", n)
			}
			if got := answer(t, netw, "w.lb.test.", dns.TypeAAAA, 30); !slices.Equal(got, []string{"2001:db8::20"}) {
				t.Errorf("AAAA %v", got)
			}
		}},
		{"failover switches and switches back", func(t *testing.T, netw string) {
			if got := answer(t, netw, "fo.lb.test.", dns.TypeA, 30); !slices.Equal(got, []string{"192.0.2.30"}) {
				t.Fatalf("%v, want the priority 1 member", got)
			}
			ts.poolOverride(t, "fo.lb.test.", "192.0.2.30", overrideDown)
			if got := answer(t, netw, "fo.lb.test.", dns.TypeA, 30); !slices.Equal(got, []string{"192.0.2.31"}) {
				t.Errorf("priority 1 down: %v, want the priority 2 member", got)
			}
			ts.poolOverride(t, "fo.lb.test.", "192.0.2.30", overrideNone)
			if got := answer(t, netw, "fo.lb.test.", dns.TypeA, 30); !slices.Equal(got, []string{"192.0.2.30"}) {
				t.Errorf("priority 1 back: %v, want it", got)
			}
		}},
		{"hash keeps the client", func(t *testing.T, netw string) {
			first := answer(t, netw, "h.lb.test.", dns.TypeA, 30)
			for range 5 {
				if got := answer(t, netw, "h.lb.test.", dns.TypeA, 30); !slices.Equal(got, first) || len(got) != 1 {
					t.Fatalf("%v, then %v", first, got)
				}
			}
			if got := answer(t, netw, "h.lb.test.", dns.TypeAAAA, 30); len(got) != 1 || !strings.HasPrefix(got[0], "2001:db8::4") {
				t.Errorf("AAAA %v", got)
			}
		}},
		{"all in configured order", func(t *testing.T, netw string) {
			for range 3 {
				if got, want := answer(t, netw, "all.lb.test.", dns.TypeA, 45), []string{"192.0.2.72", "192.0.2.70", "192.0.2.71"}; !slices.Equal(got, want) {
					t.Fatalf("%v, want %v", got, want)
				}
			}
			if got := answer(t, netw, "all.lb.test.", dns.TypeAAAA, 45); !slices.Equal(got, []string{"2001:db8::70"}) {
				t.Errorf("AAAA %v", got)
			}
		}},
		{"question case kept in the owner", func(t *testing.T, netw string) {
			if got := answer(t, netw, "ALL.Lb.TEST.", dns.TypeA, 45); len(got) != 3 {
				t.Errorf("%v", got)
			}
		}},
	}
	for _, netw := range transports {
		for _, tc := range tests {
			t.Run(netw+"/"+tc.name, func(t *testing.T) { tc.run(t, netw) })
		}
	}
}

// poolOverride changes a member's override as the admin API does.
func (ts *testServer) poolOverride(t *testing.T, pool, addr string, ov uint32) {
	t.Helper()
	if err := ts.states.setOverride(pool, netip.MustParseAddr(addr), ov, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestPoolWireNames: what a pool's name answers beside its pool: other
// types from the zone, NODATA for a type without members, CNAMEs chased to
// it, and when_all_down on the wire.
func TestPoolWireNames(t *testing.T) {
	ts := startPolicyServer(t)
	all3 := []string{"all.lb.test. 45 IN A 192.0.2.72", "all.lb.test. 45 IN A 192.0.2.70", "all.lb.test. 45 IN A 192.0.2.71"}
	tests := []dnsCase{
		{name: "pool without IPv6 members: AAAA is NODATA", qname: "v4.lb.test.", qtype: dns.TypeAAAA, aa: true, ns: []string{lbNegSOA}},
		{name: "pool name: other types from the zone", qname: "v4.lb.test.", qtype: dns.TypeTXT, aa: true, answer: []string{"v4.lb.test. 300 IN TXT \"v4 only\""}},
		{name: "pool name: a type the zone lacks is NODATA", qname: "all.lb.test.", qtype: dns.TypeMX, aa: true, ns: []string{lbNegSOA}},
		{name: "pool A", qname: "v4.lb.test.", qtype: dns.TypeA, aa: true, answer: []string{"v4.lb.test. 30 IN A 192.0.2.75"}},
		{name: "CNAME to a pool is chased", qname: "alias.lb.test.", qtype: dns.TypeA, aa: true,
			answer: append([]string{"alias.lb.test. 300 IN CNAME all.lb.test."}, all3...)},
		{name: "CNAME to a pool is chased for AAAA", qname: "alias.lb.test.", qtype: dns.TypeAAAA, aa: true,
			answer: []string{"alias.lb.test. 300 IN CNAME all.lb.test.", "all.lb.test. 45 IN AAAA 2001:db8::70"}},
		{name: "CNAME chain to a pool", qname: "alias2.lb.test.", qtype: dns.TypeA, aa: true,
			answer: append([]string{"alias2.lb.test. 300 IN CNAME alias.lb.test.", "alias.lb.test. 300 IN CNAME all.lb.test."}, all3...)},
		{name: "when_all_down none: NODATA with SOA", qname: "none.lb.test.", qtype: dns.TypeA, aa: true, ns: []string{lbNegSOA}},
		{name: "when_all_down none: AAAA too", qname: "none.lb.test.", qtype: dns.TypeAAAA, aa: true, ns: []string{lbNegSOA}},
		{name: "when_all_down none after a CNAME", qname: "tonone.lb.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"tonone.lb.test. 300 IN CNAME none.lb.test."}, ns: []string{lbNegSOA}},
		{name: "when_all_down pool: the other pool's members at this name", qname: "fb.lb.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"fb.lb.test. 45 IN A 192.0.2.72", "fb.lb.test. 45 IN A 192.0.2.70", "fb.lb.test. 45 IN A 192.0.2.71"}},
		{name: "when_all_down pool without the type: NODATA", qname: "fb.lb.test.", qtype: dns.TypeAAAA, aa: true, ns: []string{lbNegSOA}},
		{name: "pool all", qname: "all.lb.test.", qtype: dns.TypeA, aa: true, answer: all3},
	}
	ts.poolOverride(t, "none.lb.test.", "192.0.2.80", overrideDown)
	ts.poolOverride(t, "none.lb.test.", "2001:db8::80", overrideDrain)
	ts.poolOverride(t, "fb.lb.test.", "192.0.2.90", overrideDown)
	for _, netw := range transports {
		for _, tc := range tests {
			for _, pass := range []string{"first", "cached"} {
				t.Run(netw+"/"+tc.name+"/"+pass, func(t *testing.T) {
					m := new(dns.Msg)
					m.SetQuestion(tc.qname, tc.qtype)
					m.SetEdns0(1232, false)
					tc.verify(t, netw, m, ts.exchange(t, netw, m))
				})
			}
		}
	}
	// And back: the pool serves again once a member is.
	ts.poolOverride(t, "none.lb.test.", "192.0.2.80", overrideNone)
	r := ts.poolQuery(t, "udp", "none.lb.test.", dns.TypeA, nil)
	if got := addrsIn(t, r.Answer, "none.lb.test.", 30); !slices.Equal(got, []string{"192.0.2.80"}) {
		t.Errorf("member back: %v", got)
	}
}

// withECS adds an EDNS Client Subnet option (RFC 7871).
func withECS(prefix string) func(*dns.Msg) {
	p := netip.MustParsePrefix(prefix)
	return func(m *dns.Msg) {
		o := m.IsEdns0()
		e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()}
		if p.Addr().Is6() {
			e.Family = 2
		}
		o.Option = append(o.Option, e)
	}
}

// TestPolicyWireECS: the response echoes the client subnet option with
// the scope the answer depended on: the bits used by a hash pool, 0 for
// any other answer; the same subnet always gets the same hash answer.
func TestPolicyWireECS(t *testing.T) {
	ts := startPolicyServer(t)
	tests := []struct {
		qname  string
		qtype  uint16
		subnet string
		scope  uint8
	}{
		{"h.lb.test.", dns.TypeA, "198.51.100.0/24", 24},
		{"h.lb.test.", dns.TypeA, "198.51.100.77/32", 24},
		{"h.lb.test.", dns.TypeA, "198.51.0.0/16", 16},
		{"h.lb.test.", dns.TypeA, "0.0.0.0/0", 0},
		{"h.lb.test.", dns.TypeAAAA, "2001:db8:aa::/48", 48},
		{"h.lb.test.", dns.TypeAAAA, "2001:db8:aa:bb00::/64", 56},
		{"h.lb.test.", dns.TypeA, "2001:db8:aa::/48", 48}, // the family of the subnet, not of the type, counts
		{"rr.lb.test.", dns.TypeA, "198.51.100.0/24", 0},
		{"all.lb.test.", dns.TypeA, "198.51.100.0/24", 0},
		{"fast.lb.test.", dns.TypeA, "2001:db8:aa::/48", 0},
		{"v4.lb.test.", dns.TypeTXT, "198.51.100.0/24", 0},
		{"none.lb.test.", dns.TypeAAAA, "198.51.100.0/24", 0},
	}
	for _, netw := range transports {
		for _, tc := range tests {
			t.Run(netw+"/"+tc.qname+dns.TypeToString[tc.qtype]+"/"+tc.subnet, func(t *testing.T) {
				var first []string
				for q := range 3 {
					r := ts.poolQuery(t, netw, tc.qname, tc.qtype, withECS(tc.subnet))
					var e *dns.EDNS0_SUBNET
					if o := r.IsEdns0(); o != nil {
						for _, opt := range o.Option {
							if s, ok := opt.(*dns.EDNS0_SUBNET); ok {
								e = s
							}
						}
					}
					p := netip.MustParsePrefix(tc.subnet)
					if e == nil {
						t.Fatal("no ECS option in the response")
					}
					if e.SourceNetmask != uint8(p.Bits()) || e.SourceScope != tc.scope {
						t.Errorf("ECS source /%d scope /%d, want /%d scope /%d", e.SourceNetmask, e.SourceScope, p.Bits(), tc.scope)
					}
					if got, _ := netip.AddrFromSlice(e.Address); got.Unmap() != p.Masked().Addr() {
						t.Errorf("ECS address %v, want %v", e.Address, p.Masked().Addr())
					}
					ttl := uint32(30)
					if tc.qname == "all.lb.test." {
						ttl = 45
					}
					got := addrsIn(t, r.Answer, tc.qname, ttl)
					if q == 0 {
						first = got
					} else if tc.scope > 0 && !slices.Equal(got, first) {
						t.Errorf("same subnet: %v, then %v", first, got)
					}
				}
			})
		}
	}
}

// TestPolicyWireHashSpread: different client subnets (by ECS) land on
// different members, and the choice is the same over UDP and TCP.
func TestPolicyWireHashSpread(t *testing.T) {
	ts := startPolicyServer(t)
	seen := map[string]bool{}
	for i := range 64 {
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, byte(i), 0}), 24).String()
		u := addrsIn(t, ts.poolQuery(t, "udp", "h.lb.test.", dns.TypeA, withECS(subnet)).Answer, "h.lb.test.", 30)
		c := addrsIn(t, ts.poolQuery(t, "tcp", "h.lb.test.", dns.TypeA, withECS(subnet)).Answer, "h.lb.test.", 30)
		if !slices.Equal(u, c) {
			t.Fatalf("%s: UDP %v, TCP %v", subnet, u, c)
		}
		seen[u[0]] = true
	}
	if len(seen) != 4 {
		t.Errorf("64 subnets reached %d of 4 members", len(seen))
	}
}

// TestPolicyWireShares: over UDP and TCP, fastest's and least_load's answers
// list first each member in the share its figures give (weight × 1/(figure
// + half the mean), members without one at the mean), the rest following by
// figure; when the reported loads change, the shares follow.
func TestPolicyWireShares(t *testing.T) {
	ts, probe := startPolicyServerProbe(t)
	const n = 1000
	firsts := func(t *testing.T, netw, qname string, rank []string) map[string]int {
		t.Helper()
		out := map[string]int{}
		for range n {
			got := addrsIn(t, ts.poolQuery(t, netw, qname, dns.TypeA, nil).Answer, qname, 30)
			if want := rotateAddrs(rank, slices.Index(rank, got[0])); !slices.Equal(got, want) {
				t.Fatalf("%v, want the members by figure rotating from the first: %v", got, want)
			}
			out[got[0]]++
		}
		return out
	}
	for _, netw := range []string{"udp", "tcp"} {
		t.Run(netw+"/fastest", func(t *testing.T) { // 30, 10, 20 ms: mean 20
			got := firsts(t, netw, "fast.lb.test.", []string{"192.0.2.51", "192.0.2.52", "192.0.2.50"})
			checkShares(t, got, n, map[string]float64{"192.0.2.50": 1 / 40.0, "192.0.2.51": 1 / 20.0, "192.0.2.52": 1 / 30.0})
		})
		t.Run(netw+"/least_load", func(t *testing.T) { // 5, 1, none (the mean, 3)
			got := firsts(t, netw, "load.lb.test.", []string{"192.0.2.61", "192.0.2.60", "192.0.2.62"})
			checkShares(t, got, n, map[string]float64{"192.0.2.60": 1 / 6.5, "192.0.2.61": 1 / 2.5, "192.0.2.62": 1 / 4.5})
		})
	}
	// New loads: 1, 9, none (the mean, 5; last in the order). The order is
	// refreshed within refreshEvery.
	probe.set("192.0.2.60", fakeFigures{load: 1})
	probe.set("192.0.2.61", fakeFigures{load: 9})
	for _, tg := range ts.prober.Targets() {
		ts.prober.CheckNow(context.Background(), tg)
	}
	rank := []string{"192.0.2.60", "192.0.2.61", "192.0.2.62"} // no rotation of the old order
	testutil.WaitFor(t, 10*time.Second, "the new loads", func() bool {
		got := addrsIn(t, ts.poolQuery(t, "udp", "load.lb.test.", dns.TypeA, nil).Answer, "load.lb.test.", 30)
		return slices.Equal(got, rotateAddrs(rank, slices.Index(rank, got[0])))
	})
	for _, netw := range []string{"udp", "tcp"} {
		t.Run(netw+"/least_load after the change", func(t *testing.T) {
			got := firsts(t, netw, "load.lb.test.", rank)
			checkShares(t, got, n, map[string]float64{"192.0.2.60": 1 / 3.5, "192.0.2.61": 1 / 11.5, "192.0.2.62": 1 / 7.5})
		})
	}
}
