package dnslb

import "github.com/dnslb/dnslb/dnslb/config"

// policy orders a family's members for one answer. Implementations keep no
// per-query state of their own: rotation lives in family.turn, and what can
// be computed once per health generation is computed in prepare and kept in
// the view. order must not allocate: dst has room for every member.
type policy interface {
	// prepare precomputes what order needs from the view's eligible members.
	prepare(f *family, v *view)
	// order appends the members to serve, best first, and returns the ECS
	// scope prefix length the choice depended on (0: not on the client).
	order(dst []int, f *family, v *view, c client) ([]int, uint8)
	// live reports whether the order follows figures that change without a
	// health transition (round-trip times, load), so views must be refreshed.
	live() bool
}

func newPolicy(pc *config.Pool) policy { return policyOf(pc.Policy, pc) }

// policyOf is policy p with pc's settings: a geo pool's within is built
// with it.
func policyOf(p config.Policy, pc *config.Pool) policy {
	switch p {
	case config.Weighted:
		return weighted{}
	case config.Failover:
		return failover{}
	case config.Hash:
		return hashed{}
	case config.Fastest:
		return fastest{}
	case config.LeastLoad:
		l := leastLoad{}
		if pc.Shed != nil {
			l.shed = &watermarks{low: pc.Shed.Low, high: pc.Shed.High}
		}
		return l
	case config.All:
		return all{}
	}
	return roundRobin{}
}

// rotate appends list starting at position start, wrapping around.
func rotate(dst, list []int, start uint64) []int {
	if len(list) == 0 {
		return dst
	}
	s := int(start % uint64(len(list)))
	// Element by element: for a few members, cheaper than two calls of
	// memmove, whose wide loads and stores cost a geo answer more than a
	// weighted one (BenchmarkGeoServe).
	for _, m := range list[s:] {
		dst = append(dst, m)
	}
	for _, m := range list[:s] {
		dst = append(dst, m)
	}
	return dst
}

// static is the part of a policy that needs no preparation.
type static struct{}

func (static) prepare(*family, *view) {}
func (static) live() bool             { return false }
