package health

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// emfile is what a dial returns when the process has no descriptor left.
func emfile() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
}

func TestIsLocal(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{emfile(), true},
		{fmt.Errorf("health: %w", os.NewSyscallError("socket", syscall.ENFILE)), true},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}, true},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EADDRNOTAVAIL)}, true},
		{os.NewSyscallError("write", syscall.ENOBUFS), true},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, false},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, false}, // a dead neighbour
		{context.DeadlineExceeded, false},
		{nil, false},
	} {
		if got := IsLocal(tc.err); got != tc.want {
			t.Errorf("IsLocal(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if tc.want {
			if got := classify(phaseConnect, tc.err); got != ReasonLocal {
				t.Errorf("classify(%v) = %q, want %q", tc.err, got, ReasonLocal)
			}
		}
	}
}

// scriptedProbe returns its results in order: "ok", "fail" or "local".
type scriptedProbe struct {
	mu     sync.Mutex
	script []string
}

func (s *scriptedProbe) probe(context.Context, *Check, netip.Addr) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	step := s.script[0]
	s.script = s.script[1:]
	switch step {
	case "ok":
		return Result{OK: true}
	case "fail":
		return Result{Reason: ReasonRefused, Err: fmt.Errorf("health: %w", os.NewSyscallError("connect", syscall.ECONNREFUSED))}
	}
	// What the real probe's dial returns, classified as a connect failure
	// by a probe that does not know better: the prober must see through it.
	return Result{Reason: ReasonConnect, Err: fmt.Errorf("health: %w", emfile())}
}

// A probe that fails because this host is out of descriptors is not
// evidence against the target: it counts toward neither fall nor rise,
// breaks neither streak, is counted apart and logged at a bounded rate.
func TestLocalFailureIsNotEvidence(t *testing.T) {
	for _, tc := range []struct {
		name      string
		initialUp bool
		script    []string
		wantUp    []bool // after each step
	}{
		{
			name: "up target, fall 2", initialUp: true,
			script: []string{"fail", "local", "local", "local", "local", "fail"},
			wantUp: []bool{true, true, true, true, true, false},
		},
		{
			name: "up target, only local failures", initialUp: true,
			script: []string{"local", "local", "local", "local", "local", "local"},
			wantUp: []bool{true, true, true, true, true, true},
		},
		{
			name: "down target, rise 2", initialUp: false,
			script: []string{"ok", "local", "local", "ok"},
			wantUp: []bool{false, false, false, true},
		},
		{
			name: "down target, local failures do not bring it up", initialUp: false,
			script: []string{"local", "local", "local"},
			wantUp: []bool{false, false, false},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			clock := &fakeClock{now: time.Unix(1_000_000, 0)}
			hooks := &hookLog{}
			sp := &scriptedProbe{script: tc.script}
			p := NewProber(Options{
				Probe: sp.probe, Jitter: -1, Now: clock.Now, Hooks: hooks,
				Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			c := testCheck("web", 2, 2, time.Second)
			c.InitialUp = tc.initialUp
			tg := p.Sync([]Spec{{c, addr1}})[0]
			locals := 0
			for i, step := range tc.script {
				r := p.CheckNow(context.Background(), tg)
				if step == "local" {
					locals++
					if r.Reason != ReasonLocal {
						t.Errorf("step %d: reason %q, want %q", i, r.Reason, ReasonLocal)
					}
				}
				if got := tg.Up(); got != tc.wantUp[i] {
					t.Fatalf("step %d (%s): Up = %v, want %v", i, step, got, tc.wantUp[i])
				}
			}
			st := tg.Status()
			if st.LocalErrors != uint64(locals) {
				t.Errorf("LocalErrors = %d, want %d", st.LocalErrors, locals)
			}
			if st.Probes != uint64(len(tc.script)-locals) {
				t.Errorf("Probes = %d, want %d (local failures are not probes of the target)", st.Probes, len(tc.script)-locals)
			}
			probed, _ := hooks.snapshot()
			n := 0
			for _, s := range probed {
				if strings.HasSuffix(s, " "+ReasonLocal) {
					n++
				}
			}
			if n != locals {
				t.Errorf("hooks saw %d local failures, want %d: %q", n, locals, probed)
			}
			// One warning for the whole burst (the clock did not move).
			if got := strings.Count(logs.String(), "reason on this host"); locals > 0 && got != 1 {
				t.Errorf("%d warnings for %d local failures at one instant, want 1:\n%s", got, locals, logs.String())
			}
		})
	}
}

func TestLocalFailureLogIsRateLimited(t *testing.T) {
	var logs bytes.Buffer
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	sp := &scriptedProbe{}
	p := NewProber(Options{Probe: sp.probe, Jitter: -1, Now: clock.Now, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	tg := p.Sync([]Spec{{testCheck("web", 2, 2, time.Second), addr1}})[0]
	for i := range 30 {
		sp.script = append(sp.script, "local")
		p.CheckNow(context.Background(), tg)
		clock.Set(clock.Now().Add(time.Second)) // 30 failures over 30 s
		_ = i
	}
	var counts []int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Msg    string `json:"msg"`
			Failed int    `json:"local_failures"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(rec.Msg, "reason on this host") {
			counts = append(counts, rec.Failed)
		}
	}
	// At 0 s, 10 s, 20 s: three lines, each counting what came since.
	if fmt.Sprint(counts) != "[1 10 10]" {
		t.Errorf("warnings counted %v, want [1 10 10]:\n%s", counts, logs.String())
	}
}

// TestProbeOutOfDescriptors runs the real probes in a child process whose
// descriptors are exhausted: every type must report ReasonLocal, not a
// failure of the target.
func TestProbeOutOfDescriptors(t *testing.T) {
	if os.Getenv("DNSLB_HEALTH_EMFILE_CHILD") == "1" {
		emfileChild()
		return
	}
	ln := listen127(t)
	acceptAndClose(ln)
	cmd := exec.Command(os.Args[0], "-test.run=^TestProbeOutOfDescriptors$")
	cmd.Env = append(os.Environ(), "DNSLB_HEALTH_EMFILE_CHILD=1", "DNSLB_HEALTH_EMFILE_PORT="+fmt.Sprint(portOf(t, ln.Addr())))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var got map[string]string
	for _, line := range strings.Split(string(out), "\n") {
		if j, ok := strings.CutPrefix(line, "RESULTS "); ok {
			if err := json.Unmarshal([]byte(j), &got); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, typ := range []Type{TypeTCP, TypeHTTP, TypeDNS} {
		if got[string(typ)] != ReasonLocal {
			t.Errorf("%s probe out of descriptors: reason %q, want %q\n%s", typ, got[string(typ)], ReasonLocal, out)
		}
	}
}

func emfileChild() {
	var port uint16
	fmt.Sscan(os.Getenv("DNSLB_HEALTH_EMFILE_PORT"), &port)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		panic(err)
	}
	lim.Cur = 64
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		panic(err)
	}
	var held []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		held = append(held, f)
	}
	results := map[string]string{}
	for _, typ := range []Type{TypeTCP, TypeHTTP, TypeDNS} {
		r := Probe(context.Background(), probeCheck(typ, port), lo)
		results[string(typ)] = r.Reason
		if r.Reason != ReasonLocal {
			results[string(typ)] += ": " + errText(&r)
		}
	}
	for _, f := range held {
		f.Close()
	}
	b, _ := json.Marshal(results)
	fmt.Printf("RESULTS %s\n", b)
}
