package health

import "container/heap"

// queue is a min-heap of targets by next probe time: one timer for the whole
// prober instead of one sleeping goroutine per target.
type queue []*Target

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].next.Before(q[j].next) }
func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *queue) Push(x any) {
	t := x.(*Target)
	t.index = len(*q)
	*q = append(*q, t)
}

func (q *queue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil // no stale pointer keeps a dropped target alive
	*q = old[:len(old)-1]
	t.index = -1
	return t
}

func (q *queue) push(t *Target)   { heap.Push(q, t) }
func (q *queue) pop() *Target     { return heap.Pop(q).(*Target) }
func (q *queue) fix(t *Target)    { heap.Fix(q, t.index) }
func (q *queue) remove(t *Target) { heap.Remove(q, t.index) }
