package dnslb

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// geoPools: clients in 10.0.0.0/16 prefer ams, then iad; all others iad,
// then ams. Three pools differ in when_all_down and within.
const geoPools = `
[map.two]
default = ["iad", "ams"]
nets = { "10.0.0.0/16" = ["ams", "iad"] }

[[pool]]
name = "all.lb.test."
policy = "geo"
map = "two"
min_healthy = 2
members = [
  { address = "192.0.2.10", datacenter = "ams" },
  { address = "192.0.2.11", datacenter = "ams" },
  { address = "192.0.2.20", datacenter = "iad" },
  { address = "192.0.2.21", datacenter = "iad" },
]

[[pool]]
name = "fb.lb.test."
policy = "geo"
map = "two"
when_all_down = "pool:spare.lb.test."
members = [
  { address = "192.0.2.30", datacenter = "ams" },
  { address = "192.0.2.40", datacenter = "iad" },
]

[[pool]]
name = "spare.lb.test."
members = [{ address = "192.0.2.99" }]

[[pool]]
name = "h.lb.test."
policy = "geo"
map = "two"
within = "hash"
answers = 1
members = [
  { address = "192.0.2.50", datacenter = "ams" },
  { address = "192.0.2.51", datacenter = "ams" },
  { address = "192.0.2.60", datacenter = "iad" },
]
`

func TestGeoPolicy(t *testing.T) {
	fx := newPoolFixture(t, geoPools, nil)
	now := fixtureNow.UnixNano()
	ams := client{addr: netip.MustParseAddr("10.0.1.0"), prefix: 24}
	pick := func(pool string, c client) (string, uint8) {
		t.Helper()
		sel := fx.family(pool, dns.TypeA).selectMembers(nil, c, now)
		return strings.Join(selAddrs(sel), " "), sel.scope
	}
	steps := []struct {
		name     string
		pool     string
		override uint32
		addrs    []string
		want     string
	}{
		{"all up", "all.lb.test.", overrideNone, nil, "192.0.2.10 192.0.2.11"},
		{"ams below min_healthy", "all.lb.test.", overrideDown, []string{"192.0.2.10"}, "192.0.2.20 192.0.2.21"},
		// No datacenter has two: when_all_down = "all" serves the first
		// datacenter of the list with any eligible member.
		{"none has min_healthy", "all.lb.test.", overrideDown, []string{"192.0.2.21"}, "192.0.2.11"},
		// Nothing eligible: the client's first datacenter, as if healthy.
		{"all down", "all.lb.test.", overrideDown, []string{"192.0.2.11", "192.0.2.20"}, "192.0.2.10 192.0.2.11"},
		{"fallback: one down", "fb.lb.test.", overrideDown, []string{"192.0.2.30"}, "192.0.2.40"},
		{"fallback: both down", "fb.lb.test.", overrideDown, []string{"192.0.2.40"}, "192.0.2.99"},
	}
	for _, s := range steps {
		fx.override(s.pool, s.override, s.addrs...)
		got, scope := pick(s.pool, ams)
		// The order within a datacenter rotates: compare as sets.
		if !sameFields(got, s.want) {
			t.Errorf("%s: %q, want %q", s.name, got, s.want)
		}
		if s.pool == "all.lb.test." && scope != 16 { // the nets entry's /16: its list, whatever the health
			t.Errorf("%s: scope %d, want 16", s.name, scope)
		}
	}
	// within = "hash": the scope is the longer of the map's and the hash's.
	for _, tc := range []struct {
		c     client
		scope uint8
	}{
		{client{addr: netip.MustParseAddr("10.0.1.0"), prefix: 24}, 24}, // hash /24 inside the map's /16
		{client{addr: netip.MustParseAddr("10.0.0.0"), prefix: 8}, 16},  // hash /8, the map's /16
	} {
		if _, scope := pick("h.lb.test.", tc.c); scope != tc.scope {
			t.Errorf("hash within, client %v/%d: scope %d, want %d", tc.c.addr, tc.c.prefix, scope, tc.scope)
		}
	}
}

func sameFields(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	if len(x) != len(y) {
		return false
	}
	seen := map[string]int{}
	for _, s := range x {
		seen[s]++
	}
	for _, s := range y {
		if seen[s] == 0 {
			return false
		}
		seen[s]--
	}
	return true
}

// TestGeoWithinDirect: a geo pool whose within is weighted or round_robin
// orders each datacenter's members from its map-list entry, without the
// inner policy's call; that order equals the inner policy's, answer by
// answer, as health changes (every member, one datacenter, one member
// down, all down).
func TestGeoWithinDirect(t *testing.T) {
	var pools strings.Builder
	for _, within := range []string{"weighted", "round_robin"} {
		fmt.Fprintf(&pools, `
[[pool]]
name = "%s.lb.test."
policy = "geo"
map = "two"
within = %q
members = [
  { address = "192.0.2.10", datacenter = "ams", weight = 3 },
  { address = "192.0.2.11", datacenter = "ams", weight = 1 },
  { address = "192.0.2.12", datacenter = "ams", weight = 0 },
  { address = "192.0.2.20", datacenter = "iad", weight = 2 },
  { address = "192.0.2.21", datacenter = "iad", weight = 5 },
]
`, strings.ReplaceAll(within, "_", ""), within)
	}
	fx := newPoolFixture(t, `
[map.two]
default = ["iad", "ams"]
nets = { "10.0.0.0/16" = ["ams", "iad"] }
`+pools.String(), nil)
	now := fixtureNow.UnixNano()
	clients := []client{
		{addr: netip.MustParseAddr("10.0.1.0"), prefix: 24},
		{addr: netip.MustParseAddr("10.1.0.0"), prefix: 16},
		{addr: netip.MustParseAddr("10.0.0.9"), prefix: -1},
		{addr: netip.MustParseAddr("2001:db8::"), prefix: 48},
	}
	steps := []struct {
		override uint32
		addrs    []string
	}{
		{overrideNone, nil},
		{overrideDown, []string{"192.0.2.10"}},
		{overrideDown, []string{"192.0.2.20", "192.0.2.21"}},
		{overrideDown, []string{"192.0.2.11", "192.0.2.12"}},
		{overrideUp, []string{"192.0.2.10", "192.0.2.21"}},
	}
	for _, pool := range []string{"weighted.lb.test.", "roundrobin.lb.test."} {
		f := fx.family(pool, dns.TypeA)
		g := f.policy.(*geoPolicy)
		if g.within == withinOther {
			t.Fatalf("%s: the inner policy is called", pool)
		}
		generic := g
		generic.within = withinOther
		for si, s := range steps {
			fx.override(pool, s.override, s.addrs...)
			v := f.currentView(now)
			for k := range 40 {
				c := clients[k%len(clients)]
				turns := make([]uint64, len(f.geo.dcs))
				for d, dc := range f.geo.dcs {
					turns[d] = dc.turn.Load()
				}
				got, gs := g.order(nil, f, v, c)
				for d, dc := range f.geo.dcs {
					dc.turn.Store(turns[d])
				}
				want, ws := generic.order(nil, f, v, c)
				if !slices.Equal(got, want) || gs != ws {
					t.Fatalf("%s, step %d, answer %d, client %v/%d: %v scope %d, the inner policy gives %v scope %d", pool, si, k, c.addr, c.prefix, got, gs, want, ws)
				}
			}
		}
	}
}
