package testutil

import (
	"testing"
	"time"
)

// TestJudge weighs answers against a timeline of two members: member 0 goes
// down at 10 s and comes back at 20 s; member 1 stays up.
func TestJudge(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tl := NewTimeline(2, t0)
	tl.Record(0, false, "refuse", at(10))
	tl.Record(0, true, "", at(20))
	const detect, rise = 3500 * time.Millisecond, 3500 * time.Millisecond

	for _, tc := range []struct {
		name                  string
		sent                  float64
		present               []bool
		stale, empty, missing int
	}{
		{"both up, both served", 5, []bool{true, true}, 0, 0, 0},
		{"down member served within detection", 13, []bool{true, true}, 0, 0, 0},
		{"down member served past detection", 13.6, []bool{true, true}, 1, 0, 0},
		{"down member withdrawn", 15, []bool{false, true}, 0, 0, 0},
		{"empty answer while member 1 up", 15, []bool{false, false}, 0, 1, 1},
		{"back member not yet served", 22, []bool{false, true}, 0, 0, 0},
		{"back member left out too long", 24, []bool{false, true}, 0, 0, 1},
		{"back member served", 25, []bool{true, true}, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := NewJudge(tl, 2, detect, rise)
			j.Answer(at(tc.sent), tc.present)
			if j.Stale != tc.stale || j.Empty != tc.empty || j.Missing != tc.missing {
				t.Errorf("stale %d empty %d missing %d, want %d %d %d (%v)", j.Stale, j.Empty, j.Missing, tc.stale, tc.empty, tc.missing, j.Examples)
			}
		})
	}
}

// TestJudgeWorstCases: the longest a down member was served and the
// longest a restarted one took to come back.
func TestJudgeWorstCases(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tl := NewTimeline(1, t0)
	tl.Record(0, false, "hang", t0.Add(10*time.Second))
	tl.Record(0, true, "", t0.Add(20*time.Second))
	j := NewJudge(tl, 1, 3500*time.Millisecond, 3500*time.Millisecond)
	j.Answer(t0.Add(12*time.Second), []bool{true})
	j.Answer(t0.Add(13*time.Second), []bool{false})
	j.Answer(t0.Add(22*time.Second), []bool{false})
	j.Answer(t0.Add(23*time.Second), []bool{true})
	j.Answer(t0.Add(29*time.Second), []bool{true}) // the same return: not measured again
	if j.MaxServedDown != 2*time.Second || j.MaxReturn != 3*time.Second {
		t.Errorf("maxServedDown %s maxReturn %s, want 2s 3s", j.MaxServedDown, j.MaxReturn)
	}
}

func TestStateAt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tl := NewTimeline(1, t0)
	tl.Record(0, false, "503", t0.Add(time.Second))
	if st := tl.StateAt(0, t0.Add(time.Second-1)); !st.Up || !st.At.IsZero() {
		t.Errorf("before the change: %+v, want up since the start", st)
	}
	if st := tl.StateAt(0, t0.Add(time.Second)); st.Up || st.How != "503" {
		t.Errorf("at the change: %+v, want down (503)", st)
	}
}
