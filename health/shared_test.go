package health

import (
	"context"
	"math"
	"net/netip"
	"testing"
	"time"
)

// TestShared: with Options.Shared the prober keeps its own judgement apart
// (LocalUp, LocalView) and answers read what SetShared decided.
func TestShared(t *testing.T) {
	tests := []struct {
		shared bool
		wantUp bool // Up after one failed probe (fall 1)
	}{
		{shared: false, wantUp: false},
		{shared: true, wantUp: true},
	}
	for _, tt := range tests {
		ok := false
		probe := func(context.Context, *Check, netip.Addr) Result {
			if ok {
				return Result{OK: true}
			}
			return Result{Reason: ReasonRefused}
		}
		p := NewProber(Options{Probe: probe, Shared: tt.shared, Jitter: -1})
		tg := p.Sync([]Spec{{testCheck("web", 1, 1, time.Second), addr1}})[0]
		p.CheckNow(context.Background(), tg)
		if tg.Up() != tt.wantUp || tg.LocalUp() {
			t.Fatalf("shared=%v: after a failure Up %v LocalUp %v, want Up %v LocalUp false", tt.shared, tg.Up(), tg.LocalUp(), tt.wantUp)
		}
		if up, probed, _ := tg.LocalView(); up || !probed {
			t.Fatalf("shared=%v: LocalView up %v probed %v", tt.shared, up, probed)
		}
		if !tt.shared {
			continue
		}
		own := tg.ChangeAt()
		g1 := p.Generation()
		if !p.SetShared(tg, false, math.MaxInt64) || tg.Up() || p.Generation() == g1 {
			t.Fatalf("SetShared down: Up %v, generation %d → %d", tg.Up(), g1, p.Generation())
		}
		if p.SetShared(tg, false, math.MaxInt64) {
			t.Fatal("SetShared reported a change that was none")
		}
		peers := own.Add(-time.Second)
		p.SetShared(tg, false, peers.UnixNano())
		if !tg.ChangeAt().Equal(peers) {
			t.Fatalf("ChangeAt %v, want the peers' earlier %v", tg.ChangeAt(), peers)
		}
		p.SetShared(tg, false, own.Add(time.Hour).UnixNano())
		if !tg.ChangeAt().Equal(own) {
			t.Fatalf("ChangeAt %v, want own %v", tg.ChangeAt(), own)
		}
	}
}

// TestSharedHandover: at a binary upgrade the served state a cluster decided
// goes over with the prober's own, so the new process answers the same.
func TestSharedHandover(t *testing.T) {
	probe := func(context.Context, *Check, netip.Addr) Result { return Result{Reason: ReasonRefused} }
	spec := []Spec{{testCheck("web", 1, 1, time.Second), addr1}}
	old := NewProber(Options{Probe: probe, Shared: true, Jitter: -1})
	tg := old.Sync(spec)[0]
	old.CheckNow(context.Background(), tg) // own view: down
	old.SetShared(tg, true, math.MaxInt64) // the cluster: up
	saved := old.Save()
	next := NewProber(Options{Probe: probe, Shared: true, Jitter: -1})
	next.Restore(saved)
	nt := next.Sync(spec)[0]
	if !nt.Up() || nt.LocalUp() {
		t.Fatalf("after the handover: served %v, own %v; want up, down", nt.Up(), nt.LocalUp())
	}
}
