package health

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Key identifies a target: probes are deduplicated on it, so pools sharing a
// check and an address share one target and one stream of probes.
type Key struct {
	Check string // the check's name
	Addr  netip.Addr
}

func (k Key) String() string { return k.Check + "@" + k.Addr.String() }

// Spec asks for a target: Check applied to Addr.
type Spec struct {
	Check *Check
	Addr  netip.Addr
}

// noLoad is the stored load when none was reported: a NaN, which parseLoad
// never returns, so value and presence fit in one atomic word.
const noLoad = 0x7FF8_0000_0000_0001

// Target is one check applied to one address, with its state. The query
// path's reads (Up, RTT, Load, ChangeAt) are lock-free and allocation-free;
// Status takes a short per-target lock.
type Target struct {
	key   Key
	check atomic.Pointer[Check] // replaced by Sync; a probe keeps the one it loaded

	up       atomic.Bool   // what answers read: this prober's state, or the cluster's (Options.Shared)
	localUp  atomic.Bool   // this prober's own state
	peersAt  atomic.Int64  // unix ns: earliest change of the cluster peers' views; MaxInt64 = none
	rtt      atomic.Int64  // smoothed RTT of successful probes, ns; 0 = unknown
	load     atomic.Uint64 // float64 bits, or noLoad
	changeAt atomic.Int64  // unix ns
	removed  atomic.Bool   // dropped by Sync: a queued or running probe is discarded

	probeMu sync.Mutex // one probe of this target at a time, scheduled or CheckNow

	mu          sync.Mutex // guards the fields below; taken after Prober.mu
	m           Machine
	probed      bool
	lastErr     string
	lastReason  string
	lastErrAt   time.Time
	lastRTT     time.Duration
	lastProbe   time.Time
	lastChange  time.Time
	probes      uint64
	failures    uint64
	localErrs   uint64
	transitions uint64

	// Scheduling, guarded by Prober.mu.
	index   int       // in the queue; -1 when not queued
	next    time.Time // when the next probe is due
	prev    time.Time // when the last dispatched probe was due
	running bool      // dispatched and not yet finished
}

func newTarget(k Key, c *Check) *Target {
	t := &Target{key: k, index: -1, m: NewMachine(c.Rise, c.Fall, c.InitialUp)}
	t.check.Store(c)
	t.up.Store(c.InitialUp)
	t.localUp.Store(c.InitialUp)
	t.peersAt.Store(math.MaxInt64)
	t.load.Store(noLoad)
	return t
}

// Key returns the target's identity.
func (t *Target) Key() Key { return t.key }

// Check returns the check currently applied (updated in place by Sync).
// Do not modify it.
func (t *Target) Check() *Check { return t.check.Load() }

// Up reports whether the target is up: as this prober sees it, or, with
// Options.Shared, as the cluster last decided through SetShared.
func (t *Target) Up() bool { return t.up.Load() }

// LocalUp is this prober's own judgement, whatever the cluster decides.
func (t *Target) LocalUp() bool { return t.localUp.Load() }

// LocalView is this prober's state of t for its cluster peers: up, whether
// a probe has completed, and the earliest moment its own state could flip.
func (t *Target) LocalView() (up, probed bool, changeAt time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m.Up(), t.probed, time.Unix(0, t.changeAt.Load())
}

// RTT is the smoothed round-trip time of successful probes; 0 = unknown.
func (t *Target) RTT() time.Duration { return time.Duration(t.rtt.Load()) }

// Load is the last load the target reported through Check.LoadHeader.
func (t *Target) Load() (float64, bool) {
	b := t.load.Load()
	if b == noLoad {
		return 0, false
	}
	return math.Float64frombits(b), true
}

// ChangeAt is the earliest moment Up could flip given the schedule, so that
// an answer built on Up can be cached until then and no longer. It is never
// later than the real earliest flip; it may be in the past (a deciding probe
// is due or in flight). CheckNow, being off schedule, is not accounted for.
// With Options.Shared it is the earlier of this prober's moment and the
// cluster peers' (given to SetShared): a shared state can change when any
// view it was merged from does.
func (t *Target) ChangeAt() time.Time { return time.Unix(0, min(t.changeAt.Load(), t.peersAt.Load())) }

// Status is a snapshot of a target for a status page or an API.
type Status struct {
	Key             Key
	Type            Type
	Up              bool
	Probed          bool // at least one probe has completed
	ConsecutiveOK   int
	ConsecutiveFail int
	LastError       string    // of the latest failed probe, kept after later successes
	LastReason      string    // likewise, one of the Reason* labels
	LastErrorAt     time.Time // when that probe ended; zero until a probe fails
	LastRTT         time.Duration
	SmoothedRTT     time.Duration
	Load            float64
	HasLoad         bool
	LastProbe       time.Time // zero until Probed
	LastChange      time.Time // zero until the first transition
	Probes          uint64
	Failures        uint64
	LocalErrors     uint64 // probes that failed for a reason on this host, not counted in Failures
	Transitions     uint64
}

// Status returns a consistent snapshot of the target.
func (t *Target) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	load, hasLoad := t.Load()
	return Status{
		Key:             t.key,
		Type:            t.check.Load().Type,
		Up:              t.m.Up(),
		Probed:          t.probed,
		ConsecutiveOK:   t.m.ConsecutiveOK(),
		ConsecutiveFail: t.m.ConsecutiveFail(),
		LastError:       t.lastErr,
		LastReason:      t.lastReason,
		LastErrorAt:     t.lastErrAt,
		LastRTT:         t.lastRTT,
		SmoothedRTT:     t.RTT(),
		Load:            load,
		HasLoad:         hasLoad,
		LastProbe:       t.lastProbe,
		LastChange:      t.lastChange,
		Probes:          t.probes,
		Failures:        t.failures,
		LocalErrors:     t.localErrs,
		Transitions:     t.transitions,
	}
}

// observe applies one probe result at now and reports whether Up changed.
// The caller holds t.mu.
func (t *Target) observe(r *Result, now time.Time, shared bool) (changed bool) {
	t.probed = true
	t.probes++
	t.lastProbe = now
	t.lastRTT = r.RTT
	if r.OK {
		// EWMA with alpha 0.3: recent enough to follow a slowing backend,
		// smooth enough that one slow probe does not reorder a pool.
		old := t.rtt.Load()
		if old == 0 {
			t.rtt.Store(int64(r.RTT))
		} else {
			t.rtt.Store(old + (int64(r.RTT)-old)*3/10)
		}
	} else {
		t.failures++
		t.lastReason = r.Reason
		t.lastErr = errText(r)
		t.lastErrAt = now
	}
	// A failed probe says nothing of the load, a successful one without the
	// header says the backend stopped reporting it.
	switch {
	case r.HasLoad:
		t.load.Store(math.Float64bits(r.Load))
	case r.OK:
		t.load.Store(noLoad)
	}
	if !t.m.Observe(r.OK) {
		return false
	}
	t.transitions++
	t.lastChange = now
	t.localUp.Store(t.m.Up())
	if !shared {
		t.up.Store(t.m.Up())
	}
	return true
}

// observeLocal records a probe that failed for a local reason: shown as the
// last error, but neither a success nor a failure of the target. The caller
// holds t.mu.
func (t *Target) observeLocal(r *Result, now time.Time) {
	t.localErrs++
	t.lastProbe = now
	t.lastReason = r.Reason
	t.lastErr = errText(r)
}

func errText(r *Result) string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return r.Reason
}
