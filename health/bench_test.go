package health

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// counter is a Hooks that counts probes and failures.
type counter struct{ probes, failures atomic.Int64 }

func (c *counter) Probed(k Key, d time.Duration, reason string) {
	c.probes.Add(1)
	if reason != "" {
		c.failures.Add(1)
	}
}

func (c *counter) Transition(Key, bool, string) {}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkScheduler10k runs 10,000 tcp targets at a 1 s interval against a
// few listeners on 127.0.0.1 (distinct check names make distinct targets)
// and reports the process's CPU time per wall second (prober and listeners
// together; sys-ms/s is the kernel's share), the heap in use and the probes
// achieved per second. ns/op is the length of the measuring window.
func BenchmarkScheduler10k(b *testing.B) {
	const listeners = 8
	var ports []uint16
	for range listeners {
		ln := listen127(b)
		acceptAndClose(ln)
		ports = append(ports, portOf(b, ln.Addr()))
	}
	benchScheduler(b, nil, func(i int) *Check {
		return &Check{Name: fmt.Sprintf("c%05d", i), Type: TypeTCP, Port: ports[i%listeners],
			Interval: time.Second, Timeout: time.Second, Rise: 2, Fall: 2, InitialUp: true}
	})
}

// BenchmarkScheduler10kNoop is the same schedule with a probe that does
// nothing: the cost of the scheduler, the workers and the state updates alone.
func BenchmarkScheduler10kNoop(b *testing.B) {
	noop := func(context.Context, *Check, netip.Addr) Result { return Result{OK: true, RTT: time.Millisecond} }
	benchScheduler(b, noop, func(i int) *Check {
		return &Check{Name: fmt.Sprintf("c%05d", i), Type: TypeNone,
			Interval: time.Second, Timeout: time.Second, Rise: 2, Fall: 2, InitialUp: true}
	})
}

func benchScheduler(b *testing.B, probe ProbeFunc, check func(i int) *Check) {
	const (
		targets = 10_000
		window  = 5 * time.Second
	)
	specs := make([]Spec, targets)
	for i := range specs {
		specs[i] = Spec{Addr: lo, Check: check(i)}
	}
	hooks := &counter{}
	p := NewProber(Options{Hooks: hooks, Probe: probe})
	p.Sync(specs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	testutil.WaitFor(b, 20*time.Second, "the first round", p.FirstRoundDone)
	// Measure the steady state: at start-up all targets are due within the
	// first-probe jitter, and the backlog takes a few seconds to even out.
	time.Sleep(3 * time.Second)

	for b.Loop() {
		user0, sys0 := cpuTime()
		probes0, fails0, t0 := hooks.probes.Load(), hooks.failures.Load(), time.Now()
		time.Sleep(window)
		wall := time.Since(t0).Seconds()
		user1, sys1 := cpuTime()
		cpu, sys := (user1 - user0 + sys1 - sys0).Seconds(), (sys1 - sys0).Seconds()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(cpu/wall*1000, "cpu-ms/s")
		b.ReportMetric(sys/wall*1000, "sys-ms/s")
		b.ReportMetric(float64(hooks.probes.Load()-probes0)/wall, "probes/s")
		b.ReportMetric(float64(hooks.failures.Load()-fails0)/wall, "failures/s")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
	}
}

// readTarget is a target with every read field set.
func readTarget(b testing.TB) *Target {
	p := NewProber(Options{Probe: func(context.Context, *Check, netip.Addr) Result {
		return Result{OK: true, RTT: time.Millisecond, Load: 1.5, HasLoad: true}
	}})
	t := p.Sync([]Spec{{testCheck("web", 1, 1, time.Second), addr1}})[0]
	p.CheckNow(context.Background(), t)
	return t
}

var (
	sinkBool  bool
	sinkDur   time.Duration
	sinkFloat float64
	sinkTime  time.Time
)

func BenchmarkTargetUp(b *testing.B) {
	t := readTarget(b)
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = t.Up()
	}
}

func BenchmarkTargetRTT(b *testing.B) {
	t := readTarget(b)
	b.ReportAllocs()
	for b.Loop() {
		sinkDur = t.RTT()
	}
}

func BenchmarkTargetLoad(b *testing.B) {
	t := readTarget(b)
	b.ReportAllocs()
	for b.Loop() {
		sinkFloat, sinkBool = t.Load()
	}
}

func BenchmarkTargetChangeAt(b *testing.B) {
	t := readTarget(b)
	b.ReportAllocs()
	for b.Loop() {
		sinkTime = t.ChangeAt()
	}
}

// BenchmarkTargetReadsParallel reads while another goroutine records probes,
// as the query path does while the prober works.
func BenchmarkTargetReadsParallel(b *testing.B) {
	p := NewProber(Options{Probe: func(context.Context, *Check, netip.Addr) Result { return Result{OK: true} }})
	t := p.Sync([]Spec{{testCheck("web", 1, 1, time.Second), addr1}})[0]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			p.CheckNow(ctx, t)
		}
	}()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if t.Up() && t.RTT() >= 0 && t.ChangeAt().Unix() > 0 {
				t.Load()
			}
		}
	})
	cancel()
	<-done
}

func TestReadsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	tg := readTarget(t)
	for name, read := range map[string]func(){
		"Up":       func() { sinkBool = tg.Up() },
		"RTT":      func() { sinkDur = tg.RTT() },
		"Load":     func() { sinkFloat, sinkBool = tg.Load() },
		"ChangeAt": func() { sinkTime = tg.ChangeAt() },
		"Key":      func() { sinkBool = tg.Key().Addr.Is4() },
	} {
		if n := testutil.AllocsPerRun(1000, read); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}
