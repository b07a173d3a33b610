package dnslb

// fastest (least response time) draws each answer's first member with a
// probability falling as the smoothed round-trip time of its health checks
// rises (see proportional.go); members not yet measured count as the pool's
// mean.
type fastest struct{}

func (fastest) live() bool { return true }

func (fastest) prepare(f *family, v *view) {
	prepareProportional(f, v, nil, func(m *member) (float64, bool) {
		if m.target == nil {
			return 0, false
		}
		r := m.target.RTT()
		return float64(r), r > 0
	})
}

func (fastest) order(dst []int, f *family, v *view, _ client) ([]int, uint8) {
	return orderProportional(dst, f, v), 0
}

// leastLoad (least connections, least bandwidth, or any figure a backend
// reports in its HTTP health-check responses: the check's load_header) draws
// each answer's first member with a probability falling as its load rises,
// or, with watermarks, as NS1's shed_load does (see proportional.go).
// Members reporting none count as the pool's mean.
type leastLoad struct {
	shed *watermarks // nil: no load_low/load_high
}

func (leastLoad) live() bool { return true }

func (l leastLoad) prepare(f *family, v *view) {
	prepareProportional(f, v, l.shed, func(m *member) (float64, bool) {
		if m.target == nil {
			return 0, false
		}
		return m.target.Load()
	})
}

func (leastLoad) order(dst []int, f *family, v *view, _ client) ([]int, uint8) {
	return orderProportional(dst, f, v), 0
}
