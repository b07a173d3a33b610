package dnslb

// roundRobin starts every answer one eligible member further on.
type roundRobin struct{ static }

func (roundRobin) order(dst []int, f *family, v *view, _ client) ([]int, uint8) {
	return rotate(dst, v.eligible, f.turn.Add(1)-1), 0
}
