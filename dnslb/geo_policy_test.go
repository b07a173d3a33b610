package dnslb

import (
	"net/netip"
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
