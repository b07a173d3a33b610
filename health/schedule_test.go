package health

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

func TestProbesNeverOverlap(t *testing.T) {
	f := newFake()
	p := NewProber(Options{Probe: f.probe})
	c := testCheck("web", 1, 1, 10*time.Millisecond)
	c.Timeout = time.Minute // the gated probe must outlive many intervals
	ts := p.Sync([]Spec{{c, addr1}, {c, addr2}})
	slow, fast := ts[0].Key(), ts[1].Key()
	gate := f.gate(slow)
	startRun(t, p)
	// The fast target's probes show that many of the slow one's slots passed.
	testutil.WaitFor(t, 20*time.Second, "20 probes of the ungated target", func() bool { return f.count(fast) >= 20 })
	if n := f.count(slow); n != 1 {
		t.Fatalf("the gated target was probed %d times while its first probe ran, want 1", n)
	}
	close(gate)
	testutil.WaitFor(t, 20*time.Second, "the gated target to be probed again", func() bool { return f.count(slow) >= 3 })
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.overlaps != 0 {
		t.Errorf("%d overlapping probes of one target", f.overlaps)
	}
}

func TestConcurrencyBound(t *testing.T) {
	f := newFake()
	f.gateAll = make(chan struct{})
	f.hold = time.Millisecond
	p := NewProber(Options{Probe: f.probe, Concurrency: 3, Jitter: -1})
	var specs []Spec
	for i := range 20 {
		specs = append(specs, Spec{testCheck("web", 1, 1, 10*time.Millisecond), addrN(i)})
	}
	p.Sync(specs)
	startRun(t, p)
	inFlight := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.inFlight
	}
	// 20 targets due together, 3 workers: exactly 3 block.
	testutil.WaitFor(t, 20*time.Second, "3 probes in flight", func() bool { return inFlight() == 3 })
	close(f.gateAll)
	testutil.WaitFor(t, 20*time.Second, "200 probes", func() bool { return f.total() >= 200 })
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.maxInFlight != 3 {
		t.Errorf("at most %d probes in flight, want 3", f.maxInFlight)
	}
}

func TestRemovedTargetDiscardsInFlightProbe(t *testing.T) {
	f := newFake()
	hooks := &hookLog{}
	p := NewProber(Options{Probe: f.probe, Hooks: hooks, Jitter: -1})
	c := testCheck("web", 1, 1, time.Hour)
	c.Timeout = time.Minute
	ts := p.Sync([]Spec{{c, addr1}})
	k := ts[0].Key()
	gate := f.gate(k)
	f.set(k, false) // would take it down
	stop := startRun(t, p)
	testutil.WaitFor(t, 20*time.Second, "the probe to start", func() bool { return f.count(k) == 1 })
	p.Sync(nil)
	if !p.FirstRoundDone() {
		t.Error("FirstRoundDone counts a dropped target")
	}
	close(gate)
	stop() // Run returns only after the probe in flight has finished
	if st := ts[0].Status(); st.Probes != 0 || !st.Up {
		t.Errorf("the dropped target recorded its last probe: %+v", st)
	}
	if probed, _ := hooks.snapshot(); len(probed) != 0 {
		t.Errorf("hooks told of a discarded probe: %q", probed)
	}
	if p.Generation() != 0 {
		t.Error("a discarded result moved the generation")
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	// Counted by what they run, not runtime.NumGoroutine: goroutines of
	// the tests before (HTTP clients, servers closing) come and go.
	const prober = "dnslb/health.(*Prober)"
	f := newFake()
	const conc = 4
	p := NewProber(Options{Probe: f.probe, Concurrency: conc})
	var specs []Spec
	for i := range 1000 {
		specs = append(specs, Spec{testCheck("web", 1, 1, 10*time.Millisecond), addrN(i)})
	}
	p.Sync(specs)
	stop := startRun(t, p)
	testutil.WaitFor(t, 20*time.Second, "the first round", p.FirstRoundDone)
	// No goroutine per target: the scheduler and its workers.
	if n := len(testutil.Goroutines(prober)); n > conc+1 {
		t.Errorf("%d goroutines of the prober with 1000 targets, want at most %d", n, conc+1)
	}
	p.Sync(nil)
	p.mu.Lock()
	queued := len(p.queue)
	p.mu.Unlock()
	if queued != 0 || len(p.Targets()) != 0 {
		t.Errorf("after Sync(nil): %d queued, %d targets", queued, len(p.Targets()))
	}
	p.Sync([]Spec{{testCheck("web", 1, 1, 10*time.Millisecond), addr1}})
	testutil.WaitFor(t, 20*time.Second, "the remaining target to run", func() bool { return f.count(Key{"web", addr1}) >= 3 })
	stop()
	testutil.WaitGoroutinesGone(t, 20*time.Second, prober)
}

// TestChangeAtExact: without jitter and with instant probes, ChangeAt is the
// very moment of the flip.
func TestChangeAtExact(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	clock := &fakeClock{now: t0}
	f := newFake()
	p := NewProber(Options{Now: clock.Now, Probe: f.probe, Jitter: -1})
	tg := p.Sync([]Spec{{testCheck("web", 2, 3, time.Second), addr1}})[0]
	f.set(tg.Key(), false, false, false, true, true)
	if got := tg.ChangeAt(); !got.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("new target: ChangeAt = t0%+v, want t0+2s (three failures at t0, t0+1s, t0+2s)", got.Sub(t0))
	}
	var changeAts, flips []time.Duration
	for range 5 {
		wasUp := tg.Up()
		step(t, p, clock)
		if tg.Up() != wasUp {
			flips = append(flips, clock.Now().Sub(t0))
		}
		changeAts = append(changeAts, tg.ChangeAt().Sub(t0))
	}
	// Probes at t0..t0+4s: fail, fail, fail (down), ok, ok (up). Down, rise 2
	// needs two successes; up again, fall 3 needs three failures.
	if want := []time.Duration{2 * time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 7 * time.Second}; !slicesEqual(changeAts, want) {
		t.Errorf("ChangeAt after each probe = %v, want %v", changeAts, want)
	}
	if want := []time.Duration{2 * time.Second, 4 * time.Second}; !slicesEqual(flips, want) {
		t.Errorf("flips at %v, want %v", flips, want)
	}
}

// step moves the clock to the next due probe and runs it synchronously.
func step(t *testing.T, p *Prober, clock *fakeClock) {
	t.Helper()
	p.mu.Lock()
	next := p.queue[0].next
	p.mu.Unlock()
	if next.After(clock.Now()) {
		clock.Set(next)
	}
	due, _ := p.popDue(nil)
	if len(due) == 0 {
		t.Fatal("nothing due")
	}
	for _, tg := range due {
		p.execute(context.Background(), tg)
	}
}

// TestChangeAtNeverLate drives the schedule with jitter, random results and
// random probe durations, and checks that no flip ever happens before a
// ChangeAt read since the previous flip.
func TestChangeAtNeverLate(t *testing.T) {
	for _, fast := range []time.Duration{0, 300 * time.Millisecond} {
		t.Run(fmt.Sprint("fast=", fast), func(t *testing.T) { changeAtNeverLate(t, fast) })
	}
}

func changeAtNeverLate(t *testing.T, fast time.Duration) {
	rnd := rand.New(rand.NewPCG(7, 11))
	t0 := time.Unix(1e9, 0)
	clock := &fakeClock{now: t0}
	// Runs of 1-6 equal results, alternating, so thresholds are met or
	// missed both ways; a probe takes up to its timeout.
	runOK, runLeft := true, 0
	probe := func(ctx context.Context, c *Check, addr netip.Addr) Result {
		if rnd.IntN(4) == 0 { // mostly instant, so flips land on the schedule itself
			clock.Set(clock.Now().Add(time.Duration(rnd.Int64N(int64(c.Timeout)))))
		}
		if runLeft == 0 {
			runOK, runLeft = !runOK, 1+rnd.IntN(6)
		}
		runLeft--
		return Result{OK: runOK, Reason: ReasonTimeout, RTT: time.Millisecond}
	}
	p := NewProber(Options{Now: clock.Now, Probe: probe, Jitter: 0.2, Rand: rand.New(rand.NewPCG(3, 5))})
	c := testCheck("web", 3, 2, time.Second)
	c.FastInterval = fast
	c.Timeout = 900 * time.Millisecond
	tg := p.Sync([]Spec{{c, addr1}})[0]
	// Every ChangeAt read since the last flip promised no flip before it.
	flips, promise := 0, time.Time{}
	for i := range 5000 {
		if i == 2500 { // a reload halfway: shorter interval, other thresholds
			c2 := *c
			c2.Interval, c2.Timeout, c2.Rise, c2.Fall = 500*time.Millisecond, 400*time.Millisecond, 2, 4
			p.Sync([]Spec{{&c2, addr1}})
			promise = time.Time{} // promises made under the old schedule no longer bind
		}
		if at := tg.ChangeAt(); at.After(promise) {
			promise = at
		}
		wasUp := tg.Up()
		step(t, p, clock)
		if tg.Up() != wasUp {
			flips++
			if clock.Now().Before(promise) {
				t.Fatalf("probe %d: flipped at t0+%v, before a ChangeAt of t0+%v", i, clock.Now().Sub(t0), promise.Sub(t0))
			}
			promise = time.Time{}
		}
	}
	if flips < 100 {
		t.Errorf("only %d flips: the simulation does not exercise ChangeAt", flips)
	}
}

func TestChangeAtWhileRunning(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	clock := &fakeClock{now: t0}
	p := NewProber(Options{Now: clock.Now, Probe: newFake().probe, Jitter: -1})
	c := testCheck("web", 1, 3, time.Second)
	tg := p.Sync([]Spec{{c, addr1}})[0]
	step(t, p, clock) // one success; next due t0+1s
	clock.Set(t0.Add(time.Second))
	due, _ := p.popDue(nil) // dispatched: in flight from t0+1s
	c2 := *c
	c2.Fall = 1
	p.Sync([]Spec{{&c2, addr1}}) // with fall 1, the probe in flight could decide
	if got := tg.ChangeAt(); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("ChangeAt with a deciding probe in flight = t0+%v, want t0+1s", got.Sub(t0))
	}
	p.execute(context.Background(), due[0])
}

func TestShorterIntervalReschedules(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	clock := &fakeClock{now: t0}
	p := NewProber(Options{Now: clock.Now, Probe: newFake().probe, Jitter: -1})
	c := testCheck("web", 1, 2, time.Hour)
	tg := p.Sync([]Spec{{c, addr1}})[0]
	step(t, p, clock) // probed at t0, next at t0+1h
	clock.Set(t0.Add(time.Second))
	c2 := *c
	c2.Interval = 5 * time.Second
	p.Sync([]Spec{{&c2, addr1}})
	p.mu.Lock()
	next := tg.next
	p.mu.Unlock()
	if !next.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("next probe at t0+%v, want t0+5s", next.Sub(t0))
	}
	if got := tg.ChangeAt(); !got.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("ChangeAt t0+%v, want t0+10s", got.Sub(t0))
	}
}

// TestFastInterval: once a result goes against the state, the target is
// probed at the fast interval until it flips or the run breaks; ChangeAt
// counts with the fast interval.
func TestFastInterval(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	clock := &fakeClock{now: t0}
	f := newFake()
	p := NewProber(Options{Now: clock.Now, Probe: f.probe, Jitter: -1})
	c := testCheck("web", 2, 3, 2*time.Second)
	c.FastInterval = 500 * time.Millisecond
	tg := p.Sync([]Spec{{c, addr1}})[0]
	// ok at t0; then fail, fail, fail (down); ok, ok (up); ok.
	f.set(tg.Key(), true, false, false, false, true, true, true)
	if got := tg.ChangeAt(); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("new target: ChangeAt = t0%+v, want t0+1s (failures at t0, then twice 500ms apart)", got.Sub(t0))
	}
	var at, changeAts []time.Duration
	for range 7 {
		step(t, p, clock)
		at = append(at, clock.Now().Sub(t0))
		changeAts = append(changeAts, tg.ChangeAt().Sub(t0))
	}
	ms := time.Millisecond
	// Probes: t0 ok; 2s fail (counting: next at 2.5s); 2.5s fail; 3s fail,
	// down (not counting: next at 5s); 5s ok (counting); 5.5s ok, up; 7.5s.
	if want := []time.Duration{0, 2000 * ms, 2500 * ms, 3000 * ms, 5000 * ms, 5500 * ms, 7500 * ms}; !slicesEqual(at, want) {
		t.Errorf("probes at %v, want %v", at, want)
	}
	if want := []time.Duration{3000 * ms, 3000 * ms, 3000 * ms, 5500 * ms, 5500 * ms, 8500 * ms, 10500 * ms}; !slicesEqual(changeAts, want) {
		t.Errorf("ChangeAt after each probe = %v, want %v", changeAts, want)
	}
	if !tg.Up() {
		t.Error("not up at the end")
	}
}
