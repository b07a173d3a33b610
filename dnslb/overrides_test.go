package dnslb

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/dnslb/dnslb/health"
)

// TestOverrideWinsOverHealth: drain and force-down keep a healthy member
// out, force-up serves a failing one, none lets the check decide.
func TestOverrideWinsOverHealth(t *testing.T) {
	healthy := true
	p := health.NewProber(health.Options{Probe: func(context.Context, *health.Check, netip.Addr) health.Result {
		return health.Result{OK: healthy}
	}})
	c := &health.Check{Name: "c", Type: health.TypeNone, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, InitialUp: true}
	target := p.Sync([]health.Spec{{Check: c, Addr: netip.MustParseAddr("192.0.2.1")}})[0]
	m := &member{target: target, state: &memberState{}}
	for _, tc := range []struct {
		override uint32
		healthy  bool
		want     bool
	}{
		{overrideNone, true, true},
		{overrideNone, false, false},
		{overrideDrain, true, false},
		{overrideDown, true, false},
		{overrideUp, false, true},
		{overrideUp, true, true},
	} {
		healthy = tc.healthy
		p.CheckNow(context.Background(), target)
		m.state.override.Store(tc.override)
		if got := m.eligible(); got != tc.want {
			t.Errorf("override %s, healthy %v: eligible %v, want %v", overrideNames[tc.override], tc.healthy, got, tc.want)
		}
	}
	if (&member{state: &memberState{}}).eligible() != true {
		t.Error("a member without a check is not eligible")
	}
}

// TestStateFileRoundTrip: overrides written are read back; a corrupt file
// is an error naming it.
func TestStateFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	a := newMemberStates()
	if err := a.load(path); err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("2001:db8::1")
	if err := a.setOverride("www.example.", addr, overrideDrain, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	b := newMemberStates()
	if err := b.load(path); err != nil {
		t.Fatal(err)
	}
	if got := b.get("www.example.", addr).override.Load(); got != overrideDrain {
		t.Fatalf("read back %s", overrideNames[got])
	}
	bad := filepath.Join(dir, "bad.json")
	if err := writeFile(bad, "{not json"); err != nil {
		t.Fatal(err)
	}
	if err := newMemberStates().load(bad); err == nil {
		t.Fatal("corrupt state file accepted")
	}
}
