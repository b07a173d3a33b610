package dnslb

import "sync/atomic"

// roundRobin starts every answer one eligible member further on.
type roundRobin struct{ static }

func (roundRobin) order(dst []int, f *family, v *view, _ client) ([]int, uint8) {
	return roundRobinOrder(dst, &f.turn, v.eligible), 0
}

// roundRobinOrder is roundRobin's order from a view's eligible members (a
// geo pool keeps them beside each datacenter's entry).
func roundRobinOrder(dst []int, turn *atomic.Uint64, eligible []int) []int {
	return rotate(dst, eligible, turn.Add(1)-1)
}
