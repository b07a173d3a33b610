package health

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestSaveRestore: a new prober restored from an old one's saved state
// starts with each target's state, counts and history, not at InitialUp,
// and counts as having completed its first round; a target the old one did
// not have starts as usual.
func TestSaveRestore(t *testing.T) {
	c := testCheck("web", 2, 2, time.Hour)
	dead, live, fresh := Key{"web", addr1}, Key{"web", addr2}, Key{"web", addr6}
	f := newFake()
	f.set(dead, false, false)
	old := NewProber(Options{Probe: f.probe, Jitter: -1})
	ts := old.Sync([]Spec{{c, dead.Addr}, {c, live.Addr}})
	ctx := context.Background()
	for range 2 {
		old.CheckNow(ctx, ts[0])
	}
	old.CheckNow(ctx, ts[1])
	if ts[0].Up() || !ts[1].Up() {
		t.Fatalf("old prober: dead up=%v live up=%v", ts[0].Up(), ts[1].Up())
	}

	b, err := json.Marshal(old.Save()) // as it crosses processes
	if err != nil {
		t.Fatal(err)
	}
	var saved []Saved
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	p := NewProber(Options{Probe: newFake().probe, Jitter: -1})
	p.Restore(saved)
	nt := p.Sync([]Spec{{c, dead.Addr}, {c, live.Addr}, {c, fresh.Addr}})
	for i, tt := range []struct {
		up, probed bool
		fails      int
		transition uint64
	}{{false, true, 2, 1}, {true, true, 0, 0}, {true, false, 0, 0}} {
		st := nt[i].Status()
		if st.Up != tt.up || nt[i].Up() != tt.up || st.Probed != tt.probed || st.ConsecutiveFail != tt.fails || st.Transitions != tt.transition {
			t.Errorf("%s: up=%v/%v probed=%v fails=%d transitions=%d, want up=%v probed=%v fails=%d transitions=%d",
				st.Key, st.Up, nt[i].Up(), st.Probed, st.ConsecutiveFail, st.Transitions, tt.up, tt.probed, tt.fails, tt.transition)
		}
	}
	if st := nt[0].Status(); st.LastError == "" || st.Probes != 2 || st.LastChange.IsZero() {
		t.Errorf("dead target's history not restored: %+v", st)
	}
	if p.FirstRoundDone() {
		t.Error("first round done while the fresh target is unprobed")
	}
	p.Sync([]Spec{{c, dead.Addr}, {c, live.Addr}})
	if !p.FirstRoundDone() {
		t.Error("restored targets count as unprobed")
	}
}
