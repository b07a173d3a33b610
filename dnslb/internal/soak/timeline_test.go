package main

import (
	"testing"
	"time"
)

// TestJudge weighs answers against a timeline of two members: member 0 goes
// down at 10 s and comes back at 20 s; member 1 stays up.
func TestJudge(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tl := newTimeline(2, t0)
	tl.record(0, false, modeRefuse, at(10))
	tl.record(0, true, modeUp, at(20))
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
			j := newJudge(tl, 2, detect, rise)
			j.answer(at(tc.sent), tc.present)
			if j.stale != tc.stale || j.empty != tc.empty || j.missing != tc.missing {
				t.Errorf("stale %d empty %d missing %d, want %d %d %d (%v)", j.stale, j.empty, j.missing, tc.stale, tc.empty, tc.missing, j.examples)
			}
		})
	}
}

// TestJudgeWorstCases: the longest a down member was served and the
// longest a restarted one took to come back.
func TestJudgeWorstCases(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tl := newTimeline(1, t0)
	tl.record(0, false, modeHang, t0.Add(10*time.Second))
	tl.record(0, true, modeUp, t0.Add(20*time.Second))
	j := newJudge(tl, 1, 3500*time.Millisecond, 3500*time.Millisecond)
	j.answer(t0.Add(12*time.Second), []bool{true})
	j.answer(t0.Add(13*time.Second), []bool{false})
	j.answer(t0.Add(22*time.Second), []bool{false})
	j.answer(t0.Add(23*time.Second), []bool{true})
	j.answer(t0.Add(29*time.Second), []bool{true}) // the same return: not measured again
	if j.maxServedDown != 2*time.Second || j.maxReturn != 3*time.Second {
		t.Errorf("maxServedDown %s maxReturn %s, want 2s 3s", j.maxServedDown, j.maxReturn)
	}
}

func TestStateAt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tl := newTimeline(1, t0)
	tl.record(0, false, mode503, t0.Add(time.Second))
	if st := tl.stateAt(0, t0.Add(time.Second-1)); !st.up || !st.at.IsZero() {
		t.Errorf("before the change: %+v, want up since the start", st)
	}
	if st := tl.stateAt(0, t0.Add(time.Second)); st.up || st.mode != mode503 {
		t.Errorf("at the change: %+v, want down (503)", st)
	}
}
