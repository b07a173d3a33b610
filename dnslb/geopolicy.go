package dnslb

import (
	"slices"

	"github.com/dnslb/dnslb/dnslb/geo"
)

// geoPolicy sends each client to the first datacenter of its map list that
// has at least min_healthy eligible members; the inner policy (within)
// orders that datacenter's members. The map lookup is a binary search in a
// table compiled at load; per health generation, prepare splits the view by
// datacenter, so an answer allocates nothing.
type geoPolicy struct{ inner policy }

// geoSet is what a family of a geo pool adds: its map and one family per
// datacenter, which holds the same members as the pool's family.
type geoSet struct {
	m        *geo.Map
	names    []string  // the family's datacenters
	dcs      []*family // by datacenter: its members, the inner policy, its own rotation
	toParent [][]int   // dcs[d]'s member k is the pool family's member toParent[d][k]
	dcOf     []int     // pool family member → datacenter
	index    []int     // pool family member → its index in its datacenter's family
	lists    [][]int   // map list → the family's datacenters in that order, never empty
	dflt     int       // map list of clients that send ECS source prefix 0
}

func (g geoPolicy) live() bool { return g.inner.live() }

// prepare builds each datacenter's view from the pool's, and sets v.order
// to each datacenter's count of eligible members. When no datacenter has
// min_healthy, the pool counts as all down (when_all_down decides).
func (g geoPolicy) prepare(f *family, v *view) {
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
			subs[d].eligible = append(subs[d].eligible, gs.index[i])
			counts[d]++
		} else {
			subs[d].down = append(subs[d].down, gs.index[i])
		}
	}
	enough := false
	for d, sub := range gs.dcs {
		sv := subs[d]
		if len(sv.eligible) == 0 {
			sv.allDown = true
			for k := range sub.members {
				sv.eligible = append(sv.eligible, k)
			}
		}
		sub.policy.prepare(sub, sv)
		enough = enough || counts[d] >= f.minHealthy
	}
	v.order, v.sub = counts, subs
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

// order serves the first datacenter of the client's list with min_healthy
// eligible members. Reached with the pool all down (when_all_down = "all"),
// it serves the first with any eligible member, else the client's first,
// every member as if healthy. The scope is the map's: the prefix over which
// the list is the same (or the inner policy's when longer, for hash).
func (g geoPolicy) order(dst []int, f *family, v *view, c client) ([]int, uint8) {
	gs := f.geo
	list, scope := gs.dflt, 0
	if c.prefix != 0 { // ECS source prefix 0: the client asks not to be located
		list, scope = gs.m.Lookup(c.addr)
	}
	dcs := gs.lists[list]
	pick := -1
	for _, d := range dcs {
		if v.order[d] >= f.minHealthy {
			pick = d
			break
		}
	}
	if pick < 0 {
		pick = dcs[0]
		for _, d := range dcs {
			if v.order[d] > 0 {
				pick = d
				break
			}
		}
	}
	sub := gs.dcs[pick]
	base := len(dst)
	dst, s := g.inner.order(dst, sub, v.sub[pick], c)
	for k := base; k < len(dst); k++ {
		dst[k] = gs.toParent[pick][dst[k]]
	}
	return dst, uint8(max(scope, int(s)))
}

// newGeoSet splits family f of a geo pool by datacenter; dcOf names each
// member's datacenter, in f.members order.
func newGeoSet(f *family, m *geo.Map, dcOf []string, within string) *geoSet {
	gs := &geoSet{m: m, dcOf: make([]int, len(f.members)), index: make([]int, len(f.members))}
	byName := map[string]int{}
	for i, name := range dcOf {
		d, ok := byName[name]
		if !ok {
			d = len(gs.dcs)
			byName[name] = d
			gs.names = append(gs.names, name)
			sub := &family{
				pool: f.pool, qtype: f.qtype, policy: newPolicy(within), answers: f.answers,
				ttl: f.ttl, minTTL: f.minTTL, minHealthy: f.minHealthy, prefix4: f.prefix4, prefix6: f.prefix6,
				health: f.health, equalWeights: true, whenAllDown: allDownServeAll,
			}
			gs.dcs = append(gs.dcs, sub)
			gs.toParent = append(gs.toParent, nil)
		}
		sub := gs.dcs[d]
		if len(sub.members) > 0 && f.members[i].weight != sub.members[0].weight {
			sub.equalWeights = false
		}
		gs.index[i] = len(sub.members)
		sub.members = append(sub.members, f.members[i])
		gs.toParent[d] = append(gs.toParent[d], i)
		gs.dcOf[i] = d
	}
	// Each map list, as this family's datacenters. A list naming none of
	// them falls back to the default list, then to every datacenter.
	var all []int
	for d := range gs.dcs {
		all = append(all, d)
	}
	slices.SortFunc(all, func(a, b int) int { return cmpString(gs.names[a], gs.names[b]) })
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

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
