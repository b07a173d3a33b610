package health

import (
	"cmp"
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Hooks observe the prober, e.g. to feed metrics. Calls for one target come
// from one goroutine at a time and in order; calls for different targets are
// concurrent. They must not block.
type Hooks interface {
	Probed(k Key, d time.Duration, reason string) // after every recorded probe; reason "" = success
	Transition(k Key, up bool, reason string)     // on every change of Up; reason is the failure's, "" going up
}

// Options configure a Prober. The zero value is usable.
type Options struct {
	Logger      *slog.Logger     // default discards; transitions are logged at Info
	Now         func() time.Time // default time.Now; timestamps and the schedule
	Concurrency int              // default 256 probes in flight at most
	Hooks       Hooks            // default none
	Probe       ProbeFunc        // default Probe; tests inject fakes
	Jitter      float64          // default 0.1 of the interval; negative = none; at most 0.5
	Rand        *rand.Rand       // default randomly seeded; draws the jitter
	// Shared: Up is decided by the owner through SetShared (a cluster
	// merging several instances' views), not by this prober's results,
	// which it reads with LocalView. Default false.
	Shared bool
}

// Prober schedules and runs probes for a set of targets and keeps their
// state. Sync sets the targets; Run probes them until its context is done.
type Prober struct {
	log    *slog.Logger
	now    func() time.Time
	conc   int
	hooks  Hooks
	probe  ProbeFunc
	jitter float64
	shared bool

	gen      atomic.Uint64
	unprobed atomic.Int64 // current targets without a completed probe
	active   atomic.Bool  // Run is running

	localLogged   atomic.Int64 // unix ns of the last warning about a local failure
	localUnlogged atomic.Int64 // local failures since then
	wake          chan struct{}

	mu      sync.Mutex // guards the fields below and the targets' scheduling fields
	rnd     *rand.Rand
	targets map[Key]*Target
	sorted  []*Target
	queue   queue
	// restored holds states handed over by a previous process (Restore)
	// for targets not yet created.
	restored map[Key]Saved
}

// maxFirstSpread bounds the jittered delay of a new target's first probe.
const maxFirstSpread = time.Second

// NewProber returns a prober with no targets.
func NewProber(o Options) *Prober {
	p := &Prober{
		log:     o.Logger,
		now:     o.Now,
		conc:    o.Concurrency,
		hooks:   o.Hooks,
		probe:   o.Probe,
		jitter:  o.Jitter,
		shared:  o.Shared,
		rnd:     o.Rand,
		wake:    make(chan struct{}, 1),
		targets: map[Key]*Target{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.conc <= 0 {
		p.conc = 256
	}
	if p.probe == nil {
		p.probe = Probe
	}
	switch {
	case p.jitter == 0:
		p.jitter = 0.1
	case p.jitter < 0:
		p.jitter = 0
	case p.jitter > 0.5:
		p.jitter = 0.5
	}
	if p.rnd == nil {
		p.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return p
}

// Sync sets the full set of targets, at start-up and on every reload, and
// returns one *Target per spec, in order; specs with the same Key share one
// Target (the first spec's check wins). A target whose Key already exists
// keeps its state, counters and history and takes the new check's
// parameters; a new one starts in Check.InitialUp with its first probe due at
// once (within the jitter); one absent from specs is dropped, its queued
// probe forgotten and a running one's result discarded. Checks should have
// passed Validate. Safe to call at any time, before or during Run.
func (p *Prober) Sync(specs []Spec) []*Target {
	out := make([]*Target, len(specs))
	p.mu.Lock()
	now := p.now()
	keep := make(map[Key]*Target, len(specs))
	for i, s := range specs {
		k := Key{Check: s.Check.Name, Addr: s.Addr}
		t := keep[k]
		if t == nil {
			c := *s.Check // our own copy: the caller's config may change under us
			if t = p.targets[k]; t != nil {
				p.updateLocked(t, &c, now)
			} else {
				t = p.addLocked(k, &c, now)
			}
			keep[k] = t
		}
		out[i] = t
	}
	for k, t := range p.targets {
		if keep[k] == nil {
			p.removeLocked(t)
		}
	}
	p.targets = keep
	p.sorted = p.sorted[:0]
	for _, t := range keep {
		p.sorted = append(p.sorted, t)
	}
	slices.SortFunc(p.sorted, func(a, b *Target) int {
		return cmp.Or(cmp.Compare(a.key.Check, b.key.Check), a.key.Addr.Compare(b.key.Addr))
	})
	p.mu.Unlock()
	p.signal()
	return out
}

func (p *Prober) addLocked(k Key, c *Check, now time.Time) *Target {
	t := newTarget(k, c)
	t.next = now
	if p.jitter > 0 {
		// Spread a batch of new targets (start-up, a big reload) instead of
		// firing them all at once, but over a second at most, so a long
		// interval does not leave a new target unprobed for long.
		spread := min(time.Duration(p.jitter*float64(c.interval())), maxFirstSpread)
		t.next = now.Add(time.Duration(p.rnd.Float64() * float64(spread)))
	}
	p.queue.push(t)
	if !p.restoreLocked(t) {
		p.unprobed.Add(1)
	}
	t.mu.Lock()
	p.updateChangeAtLocked(t)
	t.mu.Unlock()
	return t
}

func (p *Prober) updateLocked(t *Target, c *Check, now time.Time) {
	old := t.check.Swap(c)
	if iv := c.interval(); iv < old.interval() && !t.prev.IsZero() {
		// A shorter interval applies from the next probe, not after the
		// long wait already scheduled.
		if due := t.prev.Add(iv); due.Before(t.next) {
			if due.Before(now) {
				due = now
			}
			t.next = due
			if t.index >= 0 {
				p.queue.fix(t)
			}
		}
	}
	t.mu.Lock()
	t.m.SetThresholds(c.Rise, c.Fall)
	p.updateChangeAtLocked(t)
	t.mu.Unlock()
}

func (p *Prober) removeLocked(t *Target) {
	t.removed.Store(true)
	if t.index >= 0 {
		p.queue.remove(t)
	}
	t.mu.Lock()
	if !t.probed {
		p.unprobed.Add(-1)
	}
	t.mu.Unlock()
}

// Targets returns the current targets sorted by check name, then address.
func (p *Prober) Targets() []*Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sorted)
}

// Generation counts transitions of any target: a cache of answers built on
// Up is stale once it moves.
func (p *Prober) Generation() uint64 { return p.gen.Load() }

// FirstRoundDone reports whether every current target has completed at least
// one probe, e.g. for a readiness check.
func (p *Prober) FirstRoundDone() bool { return p.unprobed.Load() == 0 }

// CheckNow probes t at once, outside the schedule, records the result as a
// scheduled probe would (unless ctx is done), and returns it. It waits for a
// probe of t already running.
func (p *Prober) CheckNow(ctx context.Context, t *Target) Result {
	t.probeMu.Lock()
	defer t.probeMu.Unlock()
	r := p.probeOnce(ctx, t)
	if ctx.Err() == nil {
		p.finish(t, &r, false)
	}
	return r
}

func (p *Prober) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// probeOnce runs the probe function on t's current check, bounded by its
// timeout, and normalises the result.
func (p *Prober) probeOnce(ctx context.Context, t *Target) Result {
	c := t.check.Load()
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	start := time.Now()
	r := p.probe(ctx, c, t.key.Addr)
	if r.RTT <= 0 {
		r.RTT = time.Since(start)
	}
	switch {
	case r.OK:
		r.Reason, r.Err = "", nil
	case IsLocal(r.Err):
		r.Reason = ReasonLocal // whatever the probe made of it
	case r.Reason == "":
		r.Reason = ReasonError
	}
	return r
}

// finish records r for t, then tells the hooks and the log outside the locks.
// scheduled says t came from the queue and goes back to it.
func (p *Prober) finish(t *Target, r *Result, scheduled bool) {
	changed, kept := p.record(t, r, scheduled)
	if !kept {
		return
	}
	if p.hooks != nil {
		p.hooks.Probed(t.key, r.RTT, r.Reason)
	}
	if r.Reason == ReasonLocal {
		p.logLocal(t, r)
	}
	if !changed {
		return
	}
	up := r.OK
	if p.hooks != nil {
		p.hooks.Transition(t.key, up, r.Reason)
	}
	attrs := []any{"target", t.key.String(), "check", t.key.Check, "address", t.key.Addr.String(),
		"from", stateName(!up), "to", stateName(up)}
	if !up {
		attrs = append(attrs, "reason", r.Reason, "error", errText(r))
	}
	p.log.Info("health transition", attrs...)
}

func (p *Prober) record(t *Target, r *Result, scheduled bool) (changed, kept bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if t.removed.Load() {
		if scheduled {
			p.requeueLocked(t, now)
		}
		return false, false
	}
	t.mu.Lock()
	if r.Reason == ReasonLocal {
		// Not evidence about the target: its state, counts and schedule
		// stay as they were (the next probe comes at the usual interval).
		t.observeLocal(r, now)
		if scheduled {
			p.requeueLocked(t, now)
		}
		p.updateChangeAtLocked(t)
		t.mu.Unlock()
		return false, true
	}
	first := !t.probed
	changed = t.observe(r, now, p.shared)
	if scheduled {
		// Counting toward a change (failures while up, successes while
		// down): confirm at the fast interval, so that a dead backend
		// leaves answers sooner and a revived one returns sooner.
		if t.m.Counting() {
			if fast := p.nextAfter(t.prev, t.check.Load().fastInterval()); fast.Before(t.next) {
				t.next = fast
			}
		}
		p.requeueLocked(t, now)
	}
	p.updateChangeAtLocked(t)
	t.mu.Unlock()
	if first {
		p.unprobed.Add(-1)
	}
	if changed {
		p.gen.Add(1) // after Up is stored: a reader who sees the new generation sees the new state
	}
	return changed, true
}

// SetShared sets the state answers read of a target of a Shared prober,
// and peersAt, the earliest moment (unix ns; math.MaxInt64 = none) the
// views it was merged from could change; it reports whether Up changed.
// Safe for concurrent use; it never blocks on a probe.
func (p *Prober) SetShared(t *Target, up bool, peersAt int64) (changed bool) {
	t.peersAt.Store(peersAt)
	if t.up.Swap(up) == up {
		return false
	}
	p.gen.Add(1) // after Up is stored, as in record
	return true
}

// localLogEvery spaces the warnings about local probe failures: when this
// host runs out of descriptors every probe fails at once, and a line per
// probe would flood the log when it can least afford it.
const localLogEvery = 10 * time.Second

// logLocal warns that a probe failed for a local reason, at most once per
// localLogEvery, with the number of such failures not logged since.
func (p *Prober) logLocal(t *Target, r *Result) {
	n := p.localUnlogged.Add(1)
	now := p.now().UnixNano()
	last := p.localLogged.Load()
	if last != 0 && now-last < int64(localLogEvery) || !p.localLogged.CompareAndSwap(last, now) {
		return
	}
	p.localUnlogged.Add(-n)
	p.log.Warn("health probe failed for a reason on this host; not counted against the target",
		"target", t.key.String(), "error", errText(r), "local_failures", n)
}

func stateName(up bool) string {
	if up {
		return "up"
	}
	return "down"
}
