package main

import (
	"fmt"
	"sync"
	"time"
)

// change is one flap of one backend.
type change struct {
	at   time.Time
	up   bool
	mode failMode // how it fails, when !up
}

// timeline records every backend's changes, in time order per backend. All
// backends are up at start.
type timeline struct {
	mu      sync.Mutex
	start   time.Time
	changes [][]change
}

func newTimeline(n int, start time.Time) *timeline {
	return &timeline{start: start, changes: make([][]change, n)}
}

// record notes that backend i went up or down at at. The flapper records a
// change once it has taken effect, so that an answer is never judged against
// a change the backend had not made yet.
func (t *timeline) record(i int, up bool, mode failMode, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.changes[i] = append(t.changes[i], change{at: at, up: up, mode: mode})
}

// stateAt is backend i's state at at: up or down, since when (the zero time
// for up since the start) and, when down, how.
func (t *timeline) stateAt(i int, at time.Time) change {
	t.mu.Lock()
	defer t.mu.Unlock()
	cs := t.changes[i]
	for k := len(cs) - 1; k >= 0; k-- { // the recent end is where queries look
		if !cs[k].at.After(at) {
			return cs[k]
		}
	}
	return change{up: true}
}

// flaps counts the changes recorded.
func (t *timeline) flaps() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, cs := range t.changes {
		n += len(cs)
	}
	return n
}

// rel formats at relative to the start of the soak.
func (t *timeline) rel(at time.Time) string {
	return fmt.Sprintf("+%s", at.Sub(t.start).Truncate(time.Millisecond))
}

// judge holds the checker's verdicts on answers for the pool, against the
// timeline.
type judge struct {
	tl         *timeline
	detect     time.Duration // a member down longer than this must not be served
	riseDetect time.Duration // a member up longer than this should be served

	stale, empty, missing int
	maxServedDown         time.Duration       // longest a down member was still served
	maxReturn             time.Duration       // longest a restarted member took to be served
	returned              []time.Time         // per member: the up change whose return was measured
	examples              map[string][]string // the first few faults of each kind, for the report
}

func newJudge(tl *timeline, n int, detect, riseDetect time.Duration) *judge {
	return &judge{tl: tl, detect: detect, riseDetect: riseDetect, returned: make([]time.Time, n), examples: map[string][]string{}}
}

const maxExamples = 5

func (j *judge) note(kind, format string, args ...any) {
	if len(j.examples[kind]) < maxExamples {
		j.examples[kind] = append(j.examples[kind], fmt.Sprintf(format, args...))
	}
}

// answer judges one answer to a query sent at sent, listing the members
// whose indexes are true in present. The sending time is the one that favors
// dnslb: the answer was built after it, when a down member had been down
// longer still. stale and missing count (answer, member) pairs.
func (j *judge) answer(sent time.Time, present []bool) {
	served, anyUp := false, false
	for i, in := range present {
		st := j.tl.stateAt(i, sent)
		served = served || in
		anyUp = anyUp || st.up
		since := st.at
		if since.IsZero() {
			since = j.tl.start
		}
		d := sent.Sub(since)
		switch {
		case in && !st.up:
			j.maxServedDown = max(j.maxServedDown, d)
			if d > j.detect {
				j.stale++
				j.note("stale", "%s member %d served %s after it went down (%s); bound %s", j.tl.rel(sent), i+1, d.Truncate(time.Millisecond), st.mode, j.detect)
			}
		case in && !st.at.IsZero() && !j.returned[i].Equal(st.at):
			j.returned[i] = st.at // the first answer listing it since it came back
			j.maxReturn = max(j.maxReturn, d)
		case !in && st.up && d > j.riseDetect:
			j.missing++
			j.note("missing", "%s member %d not served %s after it was up; bound %s", j.tl.rel(sent), i+1, d.Truncate(time.Millisecond), j.riseDetect)
		}
	}
	if !served && anyUp {
		j.empty++
		j.note("empty", "%s empty answer while a member was up", j.tl.rel(sent))
	}
}
