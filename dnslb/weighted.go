package dnslb

import "sync/atomic"

// weighted is smooth weighted round robin (as nginx does it): over every
// cycle of sum(weights) answers each member comes first as often as its
// weight says, interleaved rather than in runs. Members of weight 0 serve
// only when no weighted member is eligible. After the first member come the
// other participants in configured order, rotating from the first.
type weighted struct{ static }

// maxCycle bounds the precomputed sequence; larger weight sums are scaled
// down in proportion.
const maxCycle = 4096

func (weighted) prepare(f *family, v *view) {
	var part []int
	for _, i := range v.eligible {
		if f.members[i].weight > 0 {
			part = append(part, i)
		}
	}
	weights := make([]int, len(part))
	total := 0
	for k, i := range part {
		weights[k] = f.members[i].weight
		total += weights[k]
	}
	if len(part) == 0 { // only weight-0 members are eligible: share equally
		part = append(part, v.eligible...)
		weights = make([]int, len(part))
		for k := range weights {
			weights[k] = 1
		}
		total = len(part)
	}
	if total > maxCycle {
		scaled := 0
		for k := range weights {
			weights[k] = max(1, weights[k]*maxCycle/total)
			scaled += weights[k]
		}
		total = scaled
	}
	v.takingPart = part
	v.sequence = make([]int, 0, total)
	current := make([]int, len(part))
	for range total {
		best := -1
		for k := range part {
			current[k] += weights[k]
			if best < 0 || current[k] > current[best] {
				best = k
			}
		}
		current[best] -= total
		v.sequence = append(v.sequence, best) // an index into part
	}
}

func (weighted) order(dst []int, f *family, v *view, _ client) ([]int, uint8) {
	return weightedOrder(dst, &f.turn, v.sequence, v.takingPart), 0
}

// weightedOrder is weighted's order from a view's sequence and takingPart
// (a geo pool keeps them beside each datacenter's entry).
func weightedOrder(dst []int, turn *atomic.Uint64, sequence, takingPart []int) []int {
	if len(sequence) == 0 {
		return dst
	}
	first := sequence[(turn.Add(1)-1)%uint64(len(sequence))]
	return rotate(dst, takingPart, uint64(first))
}
