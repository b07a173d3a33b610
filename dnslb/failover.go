package dnslb

import "sort"

// failover serves the first priority group (lowest priority value) that has
// at least min_healthy eligible members, rotating within it. When no group
// has enough, every eligible member is served, best priority first, each
// group rotating within itself.
type failover struct{ static }

// prepare sets v.byPriority to the members to serve, ordered by priority,
// and v.groupEnds to the end of each priority group in it.
func (failover) prepare(f *family, v *view) {
	byPrio := append([]int(nil), v.eligible...)
	sort.SliceStable(byPrio, func(a, b int) bool { return f.members[byPrio[a]].priority < f.members[byPrio[b]].priority })
	var ends []int
	for start := 0; start < len(byPrio); {
		end := start
		for end < len(byPrio) && f.members[byPrio[end]].priority == f.members[byPrio[start]].priority {
			end++
		}
		if end-start >= f.minHealthy {
			v.byPriority, v.groupEnds = byPrio[start:end], []int{end - start}
			return
		}
		ends = append(ends, end)
		start = end
	}
	v.byPriority, v.groupEnds = byPrio, ends
}

func (failover) order(dst []int, f *family, v *view, _ client) ([]int, uint8) {
	turn := f.turn.Add(1) - 1
	start := 0
	for _, end := range v.groupEnds {
		dst = rotate(dst, v.byPriority[start:end], turn)
		start = end
	}
	return dst, 0
}
