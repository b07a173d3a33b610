package dnslb

import (
	"sort"
	"sync/atomic"
)

// A DNS answer is cached by a resolver for its TTL and shared by every client
// behind it, most of whom take the first address. Putting the single best
// member first in every answer (rank order) therefore sends every resolver
// that asks within one refresh of the figures to the same member, whose load
// then jumps, so the next refresh sends them all elsewhere: a herd that
// oscillates. fastest and least_load instead draw each answer's first member
// in proportion to a share that falls smoothly as its figure rises, so a
// member's load moves by a fraction of its deviation from the mean at each
// refresh and settles (TestProportionalSimulation measures both).
//
// A member's share is its configured weight times a factor of its figure x:
//   - by default 1/(x + mean/2), mean being the pool's mean figure: equal
//     figures share equally, an idle member gets 3 times the share of one at
//     the mean and a member at twice the mean 3/5 of it, and the rule does
//     not depend on the figure's unit. A member's load therefore moves
//     against its deviation from the mean by about half of it per refresh
//     of the cached answers (rank order: by all of the herd), which damps
//     instead of overshooting;
//   - with watermarks (least_load's load_low/load_high, NS1's shed_load): 1
//     up to low, 0 from high, falling linearly between; when every member is
//     at or above high, the default rule shares among them.
//
// Members without a figure count as the mean. Weight 0 members get no share
// unless every eligible member has weight 0. The rest of the answer follows
// the first in order of figure, rotating from it.

// watermarks are a least_load pool's load_low and load_high.
type watermarks struct{ low, high float64 }

// factor is the share a load x keeps, 0 to 1.
func (w *watermarks) factor(x float64) float64 {
	switch {
	case x <= w.low:
		return 1
	case x >= w.high:
		return 0
	}
	return (w.high - x) / (w.high - w.low)
}

// drawScale is the total of the cumulative shares: draws are 30-bit, so
// that the shares fit an int on 32-bit platforms too.
const drawScale = 1 << 30

// prepareProportional sets v.sorted to the eligible members by ascending
// figure (those without one last, ties in configured order) and
// v.cumShares to their cumulative shares scaled to drawScale, for
// orderProportional.
func prepareProportional(f *family, v *view, shed *watermarks, figure func(*member) (float64, bool)) {
	sortKnownFirst(v, func(i int) (float64, bool) { return figure(f.members[i]) })
	n := len(v.sorted)
	xs := make([]float64, n)
	known := make([]bool, n)
	var sum float64
	var nKnown int
	anyWeight := false
	for k, i := range v.sorted {
		xs[k], known[k] = figure(f.members[i])
		if known[k] {
			sum += xs[k]
			nKnown++
		}
		anyWeight = anyWeight || f.members[i].weight > 0
	}
	mean := 0.0
	if nKnown > 0 {
		mean = sum / float64(nKnown)
	}
	for k := range xs {
		if !known[k] {
			xs[k] = mean
		}
	}
	weight := func(k int) float64 {
		if !anyWeight {
			return 1
		}
		return float64(f.members[v.sorted[k]].weight)
	}
	shares := make([]float64, n)
	total := 0.0
	if shed != nil {
		for k := range shares {
			shares[k] = weight(k) * shed.factor(xs[k])
			total += shares[k]
		}
	}
	if total == 0 { // no watermarks, or every member at or above high
		for k := range shares {
			f := 1.0
			if mean > 0 {
				f = 1 / (xs[k] + mean/2)
			}
			shares[k] = weight(k) * f
			total += shares[k]
		}
	}
	v.cumShares = make([]int, n)
	last := -1 // the last member with a share: it ends at drawScale
	acc := 0.0
	for k, s := range shares {
		acc += s
		v.cumShares[k] = int(acc / total * drawScale)
		if s > 0 {
			last = k
		}
	}
	for k := max(last, 0); k < n; k++ {
		v.cumShares[k] = drawScale
	}
}

// orderProportional draws the first member by the cumulative shares in
// v.cumShares and appends the members in v.sorted rotating from it.
func orderProportional(dst []int, f *family, v *view) []int {
	if len(v.sorted) == 0 {
		return dst
	}
	return rotate(dst, v.sorted, uint64(pickShare(v.cumShares, int(f.draw.next()>>34))))
}

// pickShare returns the first k with r < cum[k]; cum ends at drawScale and
// r is below it.
func pickShare(cum []int, r int) int {
	lo, hi := 0, len(cum)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r < cum[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// drawSource is the draw of the proportional policies: a golden-ratio Weyl
// sequence (frac(seed + n·φ)) on an atomic counter. It is uniform like a
// random draw but low-discrepancy: over any run of n answers each member
// comes first in its share within O(log n) answers rather than O(√n), which
// keeps resolver caches from piling up on one member by chance (the
// simulation measures the difference). Concurrent queries draw without a
// lock or an allocation; the seed is random per snapshot and tests set it.
type drawSource struct{ state atomic.Uint64 }

// golden64 is 2^64/φ, odd: every step visits a new point of the circle.
const golden64 = 0x9e3779b97f4a7c15

func (d *drawSource) seed(s uint64) { d.state.Store(s) }

func (d *drawSource) next() uint64 { return d.state.Add(golden64) }

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
