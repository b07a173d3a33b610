package testutil

import (
	"fmt"
	"sync"
	"time"
)

// Change is one flap of one member's backend.
type Change struct {
	At  time.Time
	Up  bool
	How string // how it fails, when !Up (e.g. "refuse", "503", "hang")
}

// Timeline records the changes of n members' backends, in time order per
// member, for judging answers against: what tests and the soak tool share.
// Every member is up at start. It is safe for concurrent use.
type Timeline struct {
	mu      sync.Mutex
	start   time.Time
	changes [][]Change
}

// NewTimeline starts a timeline of n members at start.
func NewTimeline(n int, start time.Time) *Timeline {
	return &Timeline{start: start, changes: make([][]Change, n)}
}

// Record notes that member i's backend went up or down at at. Record a
// change once it has taken effect, so that an answer is never judged
// against a change the backend had not made yet.
func (t *Timeline) Record(i int, up bool, how string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.changes[i] = append(t.changes[i], Change{At: at, Up: up, How: how})
}

// StateAt is member i's state at at: up or down, since when (the zero time
// for up since the start) and, when down, how.
func (t *Timeline) StateAt(i int, at time.Time) Change {
	t.mu.Lock()
	defer t.mu.Unlock()
	cs := t.changes[i]
	for k := len(cs) - 1; k >= 0; k-- { // the recent end is where queries look
		if !cs[k].At.After(at) {
			return cs[k]
		}
	}
	return Change{Up: true}
}

// Changes returns a copy of every member's changes.
func (t *Timeline) Changes() [][]Change {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([][]Change, len(t.changes))
	for i, cs := range t.changes {
		out[i] = append([]Change(nil), cs...)
	}
	return out
}

// Flaps counts the changes recorded.
func (t *Timeline) Flaps() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, cs := range t.changes {
		n += len(cs)
	}
	return n
}

// Rel formats at relative to the start.
func (t *Timeline) Rel(at time.Time) string {
	return fmt.Sprintf("+%s", at.Sub(t.start).Truncate(time.Millisecond))
}

// Judge weighs answers listing a pool's members against a Timeline: a
// member served longer than Detect after it went down is stale; an answer
// listing nobody while a member was up is empty; a member up longer than
// RiseDetect and left out is missing. Tests and the soak tool judge with
// it. It is not safe for concurrent use.
type Judge struct {
	TL         *Timeline
	Detect     time.Duration // a member down longer than this must not be served
	RiseDetect time.Duration // a member up longer than this should be served

	Stale, Empty, Missing int
	MaxServedDown         time.Duration       // longest a down member was still served
	MaxReturn             time.Duration       // longest a restarted member took to be served
	Examples              map[string][]string // the first few faults of each kind ("stale", "empty", "missing")
	returned              []time.Time         // per member: the up change whose return was measured
}

// NewJudge judges answers for the n members of tl.
func NewJudge(tl *Timeline, n int, detect, riseDetect time.Duration) *Judge {
	return &Judge{TL: tl, Detect: detect, RiseDetect: riseDetect, returned: make([]time.Time, n), Examples: map[string][]string{}}
}

// MaxExamples bounds the faults kept of each kind.
const MaxExamples = 5

func (j *Judge) note(kind, format string, args ...any) {
	if len(j.Examples[kind]) < MaxExamples {
		j.Examples[kind] = append(j.Examples[kind], fmt.Sprintf(format, args...))
	}
}

// Answer judges one answer to a query sent at sent, listing the members
// whose indexes are true in present. The sending time is the one that favors
// dnslb: the answer was built after it, when a down member had been down
// longer still. stale and missing count (answer, member) pairs.
func (j *Judge) Answer(sent time.Time, present []bool) {
	served, anyUp := false, false
	for i, in := range present {
		st := j.TL.StateAt(i, sent)
		served = served || in
		anyUp = anyUp || st.Up
		since := st.At
		if since.IsZero() {
			since = j.TL.start
		}
		d := sent.Sub(since)
		switch {
		case in && !st.Up:
			j.MaxServedDown = max(j.MaxServedDown, d)
			if d > j.Detect {
				j.Stale++
				j.note("stale", "%s member %d served %s after it went down (%s); bound %s", j.TL.Rel(sent), i+1, d.Truncate(time.Millisecond), st.How, j.Detect)
			}
		case in && !st.At.IsZero() && !j.returned[i].Equal(st.At):
			j.returned[i] = st.At // the first answer listing it since it came back
			j.MaxReturn = max(j.MaxReturn, d)
		case !in && st.Up && d > j.RiseDetect:
			j.Missing++
			j.note("missing", "%s member %d not served %s after it was up; bound %s", j.TL.Rel(sent), i+1, d.Truncate(time.Millisecond), j.RiseDetect)
		}
	}
	if !served && anyUp {
		j.Empty++
		j.note("empty", "%s empty answer while a member was up", j.TL.Rel(sent))
	}
}
