package dnslb

import "sort"

// failover serves the first priority group (lowest priority value) that has
// at least min_healthy eligible members, rotating within it. When no group
// has enough, every eligible member is served, best priority first.
type failover struct{ static }

func (failover) prepare(f *family, v *view) {
	byPrio := append([]int(nil), v.eligible...)
	sort.SliceStable(byPrio, func(a, b int) bool { return f.members[byPrio[a]].priority < f.members[byPrio[b]].priority })
	v.order = byPrio
	for start := 0; start < len(byPrio); {
		end := start
		for end < len(byPrio) && f.members[byPrio[end]].priority == f.members[byPrio[start]].priority {
			end++
		}
		if end-start >= f.minHealthy {
			v.aux = byPrio[start:end]
			return
		}
		start = end
	}
	v.aux = byPrio
}

func (failover) order(dst []int, f *family, v *view, _ client) ([]int, uint8) {
	return rotate(dst, v.aux, f.turn.Add(1)-1), 0
}
