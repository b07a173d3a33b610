package health

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

var (
	addr1 = netip.MustParseAddr("192.0.2.1") // fakes only: never dialed
	addr2 = netip.MustParseAddr("192.0.2.2")
	addr6 = netip.MustParseAddr("2001:db8::1")
	lo    = netip.MustParseAddr("127.0.0.1")
)

// testCheck is a check for fake probes; the fake ignores its type.
func testCheck(name string, rise, fall int, interval time.Duration) *Check {
	return &Check{Name: name, Type: TypeNone, Interval: interval, Timeout: interval, Rise: rise, Fall: fall, InitialUp: true}
}

// fakeProbe is a scripted ProbeFunc that records how it was called.
type fakeProbe struct {
	mu          sync.Mutex
	script      map[Key][]bool        // results to return in order; then success
	gates       map[Key]chan struct{} // a probe of the key waits on it (or its ctx)
	gateAll     chan struct{}         // every probe waits on it when set
	hold        time.Duration         // every probe takes this long
	calls       map[Key]int           // probes started
	running     map[Key]int           // probes in flight per key
	overlaps    int                   // probes started while another of the same key ran
	inFlight    int                   // probes in flight in all
	maxInFlight int
}

func newFake() *fakeProbe {
	return &fakeProbe{script: map[Key][]bool{}, gates: map[Key]chan struct{}{}, calls: map[Key]int{}, running: map[Key]int{}}
}

func (f *fakeProbe) probe(ctx context.Context, c *Check, addr netip.Addr) Result {
	k := Key{Check: c.Name, Addr: addr}
	f.mu.Lock()
	f.calls[k]++
	f.running[k]++
	if f.running[k] > 1 {
		f.overlaps++
	}
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	ok := true
	if s := f.script[k]; len(s) > 0 {
		ok, f.script[k] = s[0], s[1:]
	}
	gate, gateAll, hold := f.gates[k], f.gateAll, f.hold
	f.mu.Unlock()

	for _, g := range []chan struct{}{gate, gateAll} {
		if g != nil {
			select {
			case <-g:
			case <-ctx.Done():
			}
		}
	}
	if hold > 0 {
		time.Sleep(hold) // simulated work, not a wait for a condition
	}

	f.mu.Lock()
	f.running[k]--
	f.inFlight--
	f.mu.Unlock()
	if ok {
		return Result{OK: true, RTT: time.Millisecond}
	}
	return Result{Reason: ReasonConnect, Err: errors.New("fake: connection failed"), RTT: 2 * time.Millisecond}
}

func (f *fakeProbe) set(k Key, results ...bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[k] = append(f.script[k], results...)
}

func (f *fakeProbe) gate(k Key) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := make(chan struct{})
	f.gates[k] = g
	return g
}

func (f *fakeProbe) count(k Key) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[k]
}

func (f *fakeProbe) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// hookLog records Hooks calls.
type hookLog struct {
	mu          sync.Mutex
	probed      []string // "key reason"
	transitions []string // "key up|down reason"
}

func (h *hookLog) Probed(k Key, d time.Duration, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probed = append(h.probed, k.String()+" "+reason)
}

func (h *hookLog) Transition(k Key, up bool, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.transitions = append(h.transitions, k.String()+" "+stateName(up)+" "+reason)
}

func (h *hookLog) snapshot() (probed, transitions []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.probed...), append([]string(nil), h.transitions...)
}

// fakeClock is an Options.Now that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// startRun runs p in the background; the returned stop cancels it and waits
// for Run to return.
func startRun(t testing.TB, p *Prober) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// listen127 listens on an ephemeral TCP port of 127.0.0.1 (never any other
// address) and closes it at the end of the test.
func listen127(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func portOf(t testing.TB, a net.Addr) uint16 {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port()
}
