package dnslb

import (
	"sort"
	"time"
)

// fastest (least response time) orders eligible members by the smoothed
// round-trip time of their health checks; members without a measurement
// come last, in configured order.
type fastest struct{}

func (fastest) live() bool { return true }

func (fastest) prepare(f *family, v *view) {
	rtt := func(i int) time.Duration {
		if t := f.members[i].target; t != nil {
			return t.RTT()
		}
		return 0
	}
	sortKnownFirst(v, func(i int) (float64, bool) { r := rtt(i); return float64(r), r > 0 })
}

func (fastest) order(dst []int, _ *family, v *view, _ client) ([]int, uint8) {
	return append(dst, v.sorted...), 0
}

// leastLoad orders eligible members by the load they report in their HTTP
// health-check responses (the check's load_header); members reporting none
// come last, in configured order.
type leastLoad struct{}

func (leastLoad) live() bool { return true }

func (leastLoad) prepare(f *family, v *view) {
	sortKnownFirst(v, func(i int) (float64, bool) {
		if t := f.members[i].target; t != nil {
			return t.Load()
		}
		return 0, false
	})
}

func (leastLoad) order(dst []int, _ *family, v *view, _ client) ([]int, uint8) {
	return append(dst, v.sorted...), 0
}

// sortKnownFirst sets v.sorted to the eligible members by ascending figure,
// those without one last; ties keep configured order.
func sortKnownFirst(v *view, figure func(int) (float64, bool)) {
	type entry struct {
		i     int
		x     float64
		known bool
	}
	es := make([]entry, len(v.eligible))
	for k, i := range v.eligible {
		x, ok := figure(i)
		es[k] = entry{i, x, ok}
	}
	sort.SliceStable(es, func(a, b int) bool {
		if es[a].known != es[b].known {
			return es[a].known
		}
		return es[a].known && es[a].x < es[b].x
	})
	v.sorted = make([]int, len(es))
	for k, e := range es {
		v.sorted[k] = e.i
	}
}
