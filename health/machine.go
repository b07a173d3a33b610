package health

// Machine is the rise/fall state machine: Rise consecutive successes bring a
// target up, Fall consecutive failures take it down, and anything shorter
// leaves the state alone, so a flapping backend cannot flap its answers. It
// knows no clock and does no I/O. The zero value is not useful; use
// NewMachine.
type Machine struct {
	rise, fall int
	up         bool
	oks, fails int // consecutive; one of them is always 0
}

// NewMachine returns a machine in the given initial state. Thresholds below
// 1 count as 1.
func NewMachine(rise, fall int, initialUp bool) Machine {
	return Machine{rise: max(rise, 1), fall: max(fall, 1), up: initialUp}
}

// Observe records one probe result and reports whether the state changed.
func (m *Machine) Observe(ok bool) (changed bool) {
	// The counts saturate, so a target up for years cannot overflow them.
	const ceiling = 1 << 30
	if ok {
		m.fails = 0
		m.oks = min(m.oks+1, ceiling)
		if !m.up && m.oks >= m.rise {
			m.up = true
			return true
		}
		return false
	}
	m.oks = 0
	m.fails = min(m.fails+1, ceiling)
	if m.up && m.fails >= m.fall {
		m.up = false
		return true
	}
	return false
}

// SetThresholds changes rise and fall (a reloaded check) keeping the state
// and the counts; a count already past a lowered threshold takes effect at
// the next observation that agrees with it.
func (m *Machine) SetThresholds(rise, fall int) {
	m.rise, m.fall = max(rise, 1), max(fall, 1)
}

// Up reports the current state.
func (m *Machine) Up() bool { return m.up }

// ConsecutiveOK is the number of successes since the last failure.
func (m *Machine) ConsecutiveOK() int { return m.oks }

// ConsecutiveFail is the number of failures since the last success.
func (m *Machine) ConsecutiveFail() int { return m.fails }

// Rise is the number of consecutive successes that bring the state up.
func (m *Machine) Rise() int { return m.rise }

// Fall is the number of consecutive failures that take the state down.
func (m *Machine) Fall() int { return m.fall }

// Counting reports whether the latest results go against the state: some
// failures while up, some successes while down.
func (m *Machine) Counting() bool {
	if m.up {
		return m.fails > 0
	}
	return m.oks > 0
}

// ToFlip is the number of further results, all against the current state,
// that would change it: at least 1.
func (m *Machine) ToFlip() int {
	if m.up {
		return max(m.fall-m.fails, 1)
	}
	return max(m.rise-m.oks, 1)
}
