package dnslb

import (
	"slices"
	"strings"

	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/dnslb/geo"
)

// geoPolicy sends each client to the first datacenter of its map list that
// has at least min_healthy eligible members; the inner policy (within)
// orders that datacenter's members. The map lookup is a search in a table
// compiled at load; per health generation, prepare splits the view by
// datacenter and picks each list's datacenter, so that an answer is a
// lookup and the inner policy's order, and allocates nothing.
type geoPolicy struct {
	inner  policy
	isLive bool // inner.live(), asked once
	within int  // withinWeighted, withinRoundRobin: order reads geoDC, not inner
}

const (
	withinOther = iota
	withinWeighted
	withinRoundRobin
)

func newGeoPolicy(inner policy) *geoPolicy {
	g := &geoPolicy{inner: inner, isLive: inner.live()}
	switch inner.(type) {
	case weighted:
		g.within = withinWeighted
	case roundRobin:
		g.within = withinRoundRobin
	}
	return g
}

// geoSet is what a family of a geo pool adds: its map and one family per
// datacenter. A datacenter's family shares the pool family's members (so
// that indices need no mapping) and has its own rotation and views, which
// hold only its own members.
type geoSet struct {
	m       *geo.Map
	names   []string  // the family's datacenters
	dcs     []*family // by datacenter
	members [][]int   // by datacenter: its members, indices into the family's
	dcOf    []int     // the family's member → datacenter
	lists   [][]int   // map list → the family's datacenters in that order, never empty
	dflt    int       // map list of clients that send ECS source prefix 0
}

func (g *geoPolicy) live() bool { return g.isLive }

// prepare builds each datacenter's view from the pool family's, sets
// each datacenter's count of eligible members and the datacenter that
// serves each map list. When no datacenter has
// min_healthy, the pool counts as all down (when_all_down decides); with
// "all", a list is served by its first datacenter with an eligible member,
// else by its first, every member as if healthy.
func (g *geoPolicy) prepare(f *family, v *view) {
	gs := f.geo
	counts := make([]int, len(gs.dcs))
	subs := make([]*view, len(gs.dcs))
	for d := range gs.dcs {
		subs[d] = &view{gen: v.gen, built: v.built}
	}
	elig := make([]bool, len(f.members))
	if !v.allDown {
		for _, i := range v.eligible {
			elig[i] = true
		}
	}
	for i := range f.members {
		d := gs.dcOf[i]
		if elig[i] {
			subs[d].eligible = append(subs[d].eligible, i)
			counts[d]++
		} else {
			subs[d].down = append(subs[d].down, i)
		}
	}
	enough := false
	for d, sub := range gs.dcs {
		sv := subs[d]
		if len(sv.eligible) == 0 {
			sv.allDown = true
			sv.eligible = append(sv.eligible, gs.members[d]...)
		}
		sub.policy.prepare(sub, sv)
		enough = enough || counts[d] >= f.minHealthy
	}
	serves := make([]geoDC, len(gs.lists))
	for l, dcs := range gs.lists {
		pick := -1
		for _, d := range dcs {
			if counts[d] >= f.minHealthy {
				pick = d
				break
			}
		}
		if pick < 0 {
			pick = dcs[0]
			for _, d := range dcs {
				if counts[d] > 0 {
					pick = d
					break
				}
			}
		}
		sv := subs[pick]
		serves[l] = geoDC{fam: gs.dcs[pick], view: sv}
		switch g.within {
		case withinWeighted:
			serves[l].seq, serves[l].part = sv.sequence, sv.takingPart
		case withinRoundRobin:
			serves[l].part = sv.eligible
		}
	}
	v.dcEligible, v.dcServes = counts, serves
	if !enough && !v.allDown {
		v.allDown = true
		if f.whenAllDown == allDownServeAll {
			v.eligible = v.eligible[:0]
			for i := range f.members {
				v.eligible = append(v.eligible, i)
			}
		}
	}
}

// order serves the datacenter prepare picked for the client's list. The
// scope is the map's: the prefix over which the list is the same (or the
// inner policy's when longer, for hash).
func (g *geoPolicy) order(dst []int, f *family, v *view, c client) ([]int, uint8) {
	gs := f.geo
	list, scope := gs.dflt, 0
	switch {
	case c.prefix < 0: // no ECS: no scope to tell
		list, _ = gs.m.Lookup(c.addr)
	case c.ecs != nil && c.prefix > 0: // (source prefix 0: the client asks not to be located)
		list, scope = c.ecs.locate(gs.m) // from the option's bytes, without netip's copies
	case c.prefix > 0: // a subnet given without its option (-locate)
		list, scope = gs.m.Lookup(c.addr)
	}
	dc := &v.dcServes[list]
	switch g.within { // what weighted.order and roundRobin.order do
	case withinWeighted:
		return weightedOrder(dst, &dc.fam.turn, dc.seq, dc.part), uint8(scope)
	case withinRoundRobin:
		return roundRobinOrder(dst, &dc.fam.turn, dc.part), uint8(scope)
	}
	dst, s := g.inner.order(dst, dc.fam, dc.view, c)
	return dst, uint8(max(scope, int(s)))
}

// newGeoSet splits family f of a geo pool by datacenter; dcOf names each
// member's datacenter, in f.members order.
func newGeoSet(f *family, m *geo.Map, dcOf []string, pc *config.Pool) *geoSet {
	gs := &geoSet{m: m, dcOf: make([]int, len(f.members))}
	byName := map[string]int{}
	for i, name := range dcOf {
		d, ok := byName[name]
		if !ok {
			d = len(gs.dcs)
			byName[name] = d
			gs.names = append(gs.names, name)
			gs.dcs = append(gs.dcs, &family{
				pool: f.pool, qtype: f.qtype, members: f.members, policy: policyOf(pc.Within, pc), answers: f.answers,
				ttl: f.ttl, minTTL: f.minTTL, minHealthy: f.minHealthy, prefix4: f.prefix4, prefix6: f.prefix6,
				health: f.health, equalWeights: true, whenAllDown: allDownServeAll, fastReturn: f.fastReturn,
			})
			gs.members = append(gs.members, nil)
		}
		if len(gs.members[d]) > 0 && f.members[i].weight != f.members[gs.members[d][0]].weight {
			gs.dcs[d].equalWeights = false
		}
		gs.members[d] = append(gs.members[d], i)
		gs.dcOf[i] = d
	}
	// Each map list, as this family's datacenters. A list naming none of
	// them falls back to the default list, then to every datacenter.
	all := make([]int, len(gs.dcs))
	for d := range all {
		all[d] = d
	}
	slices.SortFunc(all, func(a, b int) int { return strings.Compare(gs.names[a], gs.names[b]) })
	dcNames := m.Datacenters()
	own := func(list []int) []int {
		var out []int
		for _, i := range list {
			if d, ok := byName[dcNames[i]]; ok {
				out = append(out, d)
			}
		}
		return out
	}
	gs.dflt = m.DefaultList()
	fallback := own(m.Lists()[gs.dflt])
	if len(fallback) == 0 {
		fallback = all
	}
	for _, l := range m.Lists() {
		o := own(l)
		if len(o) == 0 {
			o = fallback
		}
		gs.lists = append(gs.lists, o)
	}
	return gs
}
