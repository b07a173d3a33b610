package health

import (
	"math"
	"time"
)

// Saved is a target's state as one process hands it to the next at a binary
// upgrade, so that the new process starts where the old one stood instead
// of at Check.InitialUp: it neither fails open on a dead member nor waits
// `rise` probes to serve a live one.
type Saved struct {
	Key             Key           `json:"key"`
	Up              bool          `json:"up"`               // this prober's own judgement
	Served          *bool         `json:"served,omitempty"` // what answers read, when a cluster decided otherwise (Options.Shared)
	Probed          bool          `json:"probed"`
	ConsecutiveOK   int           `json:"ok"`
	ConsecutiveFail int           `json:"fail"`
	SmoothedRTT     time.Duration `json:"rtt"`
	Load            float64       `json:"load"`
	HasLoad         bool          `json:"has_load"`
	LastError       string        `json:"last_error,omitempty"`
	LastReason      string        `json:"last_reason,omitempty"`
	LastRTT         time.Duration `json:"last_rtt"`
	LastProbe       time.Time     `json:"last_probe"`
	LastChange      time.Time     `json:"last_change"`
	Probes          uint64        `json:"probes"`
	Failures        uint64        `json:"failures"`
	Transitions     uint64        `json:"transitions"`
}

// Save returns the state of every current target.
func (p *Prober) Save() []Saved {
	var out []Saved
	for _, t := range p.Targets() {
		st := t.Status()
		out = append(out, Saved{
			Key: st.Key, Up: st.Up, Served: served(t, st.Up), Probed: st.Probed,
			ConsecutiveOK: st.ConsecutiveOK, ConsecutiveFail: st.ConsecutiveFail,
			SmoothedRTT: st.SmoothedRTT, Load: st.Load, HasLoad: st.HasLoad,
			LastError: st.LastError, LastReason: st.LastReason, LastRTT: st.LastRTT,
			LastProbe: st.LastProbe, LastChange: st.LastChange,
			Probes: st.Probes, Failures: st.Failures, Transitions: st.Transitions,
		})
	}
	return out
}

// served is what answers read of t when it differs from its own state.
func served(t *Target, own bool) *bool {
	if up := t.Up(); up != own {
		return &up
	}
	return nil
}

// Restore remembers saved states: a target that Sync creates later with a
// saved Key starts from its saved state (thresholds from its new check)
// rather than from Check.InitialUp. Call it before the first Sync.
func (p *Prober) Restore(saved []Saved) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.restored == nil {
		p.restored = make(map[Key]Saved, len(saved))
	}
	for _, s := range saved {
		p.restored[s.Key] = s
	}
}

// restoreLocked applies a saved state to a new target and reports whether
// that state came from a completed probe. The caller holds p.mu.
func (p *Prober) restoreLocked(t *Target) (probed bool) {
	s, ok := p.restored[t.key]
	if !ok {
		return false
	}
	delete(p.restored, t.key)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m.up, t.m.oks, t.m.fails = s.Up, max(s.ConsecutiveOK, 0), max(s.ConsecutiveFail, 0)
	t.up.Store(s.Up)
	t.localUp.Store(s.Up)
	if s.Served != nil {
		t.up.Store(*s.Served) // a cluster's decision, until it decides again
	}
	t.rtt.Store(int64(s.SmoothedRTT))
	if s.HasLoad && !math.IsNaN(s.Load) {
		t.load.Store(math.Float64bits(s.Load))
	}
	t.probed = s.Probed
	t.lastErr, t.lastReason, t.lastRTT = s.LastError, s.LastReason, s.LastRTT
	t.lastProbe, t.lastChange = s.LastProbe, s.LastChange
	t.probes, t.failures, t.transitions = s.Probes, s.Failures, s.Transitions
	return s.Probed
}
