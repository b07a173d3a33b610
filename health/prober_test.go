package health

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

func TestSyncKeepsStateOfUnchangedKeys(t *testing.T) {
	f := newFake()
	p := NewProber(Options{Probe: f.probe, Jitter: -1})
	ctx := context.Background()
	c := testCheck("web", 2, 2, time.Second)
	ts := p.Sync([]Spec{{c, addr1}, {c, addr2}})
	k1 := ts[0].Key()

	f.set(k1, false, false)
	p.CheckNow(ctx, ts[0])
	p.CheckNow(ctx, ts[0])
	if ts[0].Up() || !ts[1].Up() {
		t.Fatalf("after two failures: Up = %v, %v", ts[0].Up(), ts[1].Up())
	}

	// Reload: same key with new parameters, one key gone, one new.
	c2 := *c
	c2.Interval, c2.Rise = 5*time.Second, 3
	fresh := testCheck("dns", 1, 1, time.Second)
	fresh.InitialUp = false
	ts2 := p.Sync([]Spec{{&c2, addr1}, {fresh, addr1}})
	if ts2[0] != ts[0] {
		t.Fatal("Sync replaced the target of an unchanged key")
	}
	st := ts2[0].Status()
	if st.Up || st.Probes != 2 || st.Failures != 2 || st.Transitions != 1 || st.ConsecutiveFail != 2 {
		t.Errorf("state not kept: %+v", st)
	}
	if got := ts2[0].Check().Interval; got != 5*time.Second {
		t.Errorf("interval not updated in place: %v", got)
	}
	if c.Interval != time.Second {
		t.Error("Sync modified the caller's check")
	}
	// The new rise (3) applies: two successes are not enough.
	p.CheckNow(ctx, ts2[0])
	p.CheckNow(ctx, ts2[0])
	if ts2[0].Up() {
		t.Error("came up after 2 successes with rise 3")
	}
	p.CheckNow(ctx, ts2[0])
	if !ts2[0].Up() {
		t.Error("still down after 3 successes with rise 3")
	}
	if ts2[1].Up() {
		t.Error("a new target did not start in its check's initial state (down)")
	}
	targets := p.Targets()
	if len(targets) != 2 || targets[0].Key().Check != "dns" || targets[1].Key().Check != "web" {
		t.Errorf("Targets() = %v", keys(targets))
	}

	// The dropped target's results are discarded.
	removed := ts[1]
	p.CheckNow(ctx, removed)
	if st := removed.Status(); st.Probes != 0 {
		t.Errorf("a dropped target recorded a probe: %+v", st)
	}
}

func keys(ts []*Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Key().String())
	}
	return out
}

func TestSyncDedups(t *testing.T) {
	p := NewProber(Options{Probe: newFake().probe})
	web := testCheck("web", 1, 1, time.Second)
	api := testCheck("api", 1, 1, time.Second)
	ts := p.Sync([]Spec{{web, addr1}, {api, addr1}, {web, addr1}, {web, addr2}})
	if len(ts) != 4 || ts[0] != ts[2] || ts[0] == ts[1] || ts[0] == ts[3] {
		t.Fatalf("Sync = %v", keys(ts))
	}
	if got := keys(p.Targets()); strings.Join(got, " ") != "api@192.0.2.1 web@192.0.2.1 web@192.0.2.2" {
		t.Errorf("Targets() = %v", got)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) != 3 {
		t.Errorf("%d targets queued, want 3", len(p.queue))
	}
}

func TestFirstProbeAtStart(t *testing.T) {
	f := newFake()
	p := NewProber(Options{Probe: f.probe, Jitter: -1})
	c := testCheck("web", 1, 1, time.Hour) // the interval alone would not probe during the test
	var specs []Spec
	for i := range 50 {
		specs = append(specs, Spec{c, addrN(i)})
	}
	ts := p.Sync(specs)
	if p.FirstRoundDone() {
		t.Fatal("FirstRoundDone before any probe")
	}
	startRun(t, p)
	testutil.WaitFor(t, 20*time.Second, "the first round", p.FirstRoundDone)
	for _, tg := range ts {
		if n := f.count(tg.Key()); n != 1 {
			t.Errorf("%s probed %d times, want 1", tg.Key(), n)
		}
		if !tg.Status().Probed {
			t.Errorf("%s: Status().Probed false", tg.Key())
		}
	}
	// A target added later is probed promptly too, and FirstRoundDone waits for it.
	late := testCheck("late", 1, 1, time.Hour)
	f.gate(Key{"late", addr1})
	more := p.Sync(append(specs, Spec{late, addr1}))
	testutil.WaitFor(t, 20*time.Second, "the late target's probe to start", func() bool { return f.count(more[50].Key()) == 1 })
	if p.FirstRoundDone() {
		t.Error("FirstRoundDone while the late target's first probe runs")
	}
	close(f.gates[Key{"late", addr1}])
	testutil.WaitFor(t, 20*time.Second, "the late target's first probe", p.FirstRoundDone)
}

func addrN(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 51, byte(100 + i/256), byte(i)})
}

func TestFirstProbeJitterBounded(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	p := NewProber(Options{Now: clock.Now, Probe: newFake().probe, Jitter: 0.5, Rand: rand.New(rand.NewPCG(1, 2))})
	var specs []Spec
	for i := range 100 {
		specs = append(specs, Spec{testCheck("web", 1, 1, time.Second), addrN(i)})
		specs = append(specs, Spec{testCheck("slow", 1, 1, time.Hour), addrN(i)})
	}
	p.Sync(specs)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tg := range p.queue {
		limit := min(time.Duration(0.5*float64(tg.Check().Interval)), maxFirstSpread)
		if d := tg.next.Sub(clock.Now()); d < 0 || d > limit {
			t.Errorf("%s: first probe in %v, want within %v", tg.key, d, limit)
		}
	}
}

func TestGenerationHooksAndLog(t *testing.T) {
	f := newFake()
	hooks := &hookLog{}
	var logBuf testutil.SyncBuffer
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	p := NewProber(Options{
		Probe: f.probe, Hooks: hooks, Now: clock.Now, Jitter: -1,
		Logger: slog.New(slog.NewJSONHandler(&logBuf, nil)),
	})
	ts := p.Sync([]Spec{{testCheck("web", 2, 2, time.Second), addr1}})
	tg := ts[0]
	f.set(tg.Key(), false, true, false, false, true, true)
	ctx := context.Background()
	var gens []uint64
	for range 6 {
		clock.Set(clock.Now().Add(time.Second))
		p.CheckNow(ctx, tg)
		gens = append(gens, p.Generation())
	}
	if want := []uint64{0, 0, 0, 1, 1, 2}; !slicesEqual(gens, want) {
		t.Errorf("Generation after each probe = %v, want %v", gens, want)
	}
	probed, transitions := hooks.snapshot()
	if len(probed) != 6 || probed[0] != "web@192.0.2.1 connect" || probed[1] != "web@192.0.2.1 " {
		t.Errorf("Probed hooks = %q", probed)
	}
	if want := []string{"web@192.0.2.1 down connect", "web@192.0.2.1 up "}; !slicesEqual(transitions, want) {
		t.Errorf("Transition hooks = %q, want %q", transitions, want)
	}
	st := tg.Status()
	if st.Transitions != 2 || st.Probes != 6 || st.Failures != 3 || !st.LastChange.Equal(time.Unix(1e9+6, 0)) ||
		st.LastReason != ReasonConnect || st.LastError != "fake: connection failed" || !st.LastErrorAt.Equal(time.Unix(1e9+4, 0)) {
		t.Errorf("Status = %+v (the last failure at +4s)", st)
	}
	if st.SmoothedRTT != time.Millisecond || st.LastRTT != time.Millisecond {
		t.Errorf("RTT: smoothed %v last %v, want 1ms (successes only)", st.SmoothedRTT, st.LastRTT)
	}

	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), logBuf.String())
	}
	var down map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &down); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"level": "INFO", "msg": "health transition", "target": "web@192.0.2.1", "check": "web",
		"address": "192.0.2.1", "from": "up", "to": "down", "reason": "connect", "error": "fake: connection failed"} {
		if down[k] != v {
			t.Errorf("log %s = %v, want %v", k, down[k], v)
		}
	}
	if !strings.Contains(lines[1], `"from":"down","to":"up"`) {
		t.Errorf("up transition log: %s", lines[1])
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadAndRTT(t *testing.T) {
	var mu sync.Mutex
	next := Result{OK: true, RTT: 10 * time.Millisecond, Load: 0.5, HasLoad: true}
	probe := func(ctx context.Context, c *Check, addr netip.Addr) Result {
		mu.Lock()
		defer mu.Unlock()
		return next
	}
	set := func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		next = r
	}
	p := NewProber(Options{Probe: probe})
	tg := p.Sync([]Spec{{testCheck("web", 1, 5, time.Second), addr1}})[0]
	if _, ok := tg.Load(); ok || tg.RTT() != 0 {
		t.Fatal("a new target has a load or an RTT")
	}
	ctx := context.Background()
	p.CheckNow(ctx, tg)
	if l, ok := tg.Load(); !ok || l != 0.5 || tg.RTT() != 10*time.Millisecond {
		t.Errorf("after one probe: load %v %v, RTT %v", l, ok, tg.RTT())
	}
	set(Result{OK: true, RTT: 20 * time.Millisecond, Load: 0, HasLoad: true})
	p.CheckNow(ctx, tg)
	if l, ok := tg.Load(); !ok || l != 0 || tg.RTT() != 13*time.Millisecond {
		t.Errorf("after two probes: load %v %v, RTT %v, want 0 true 13ms", l, ok, tg.RTT())
	}
	set(Result{Reason: ReasonTimeout, RTT: time.Second})
	p.CheckNow(ctx, tg)
	if l, ok := tg.Load(); !ok || l != 0 || tg.RTT() != 13*time.Millisecond {
		t.Errorf("a failure changed load or RTT: %v %v %v", l, ok, tg.RTT())
	}
	set(Result{OK: true, RTT: 13 * time.Millisecond})
	p.CheckNow(ctx, tg)
	if _, ok := tg.Load(); ok {
		t.Error("a success without the header kept the old load")
	}
}

func TestRunTwice(t *testing.T) {
	p := NewProber(Options{Probe: newFake().probe})
	startRun(t, p)
	testutil.WaitFor(t, 20*time.Second, "Run to start", p.active.Load)
	if err := p.Run(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "health: ") {
		t.Errorf("second Run: %v", err)
	}
}
