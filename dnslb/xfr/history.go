package xfr

import (
	"slices"

	"github.com/miekg/dns"
)

// Diff is one step of a zone from serial From to To, as IXFR sends it
// (RFC 1995 §4): Del starts with the old SOA, Add with the new one.
type Diff struct {
	From, To uint32
	Del, Add []dns.RR
}

// History is the differences of a zone, oldest first, each starting where
// the one before ended. It is immutable: With returns a new one, so that a
// transfer in progress keeps reading the one it loaded.
type History struct {
	diffs []Diff
	size  int // records held
}

// Limits of a History: beyond them the oldest steps are dropped and a
// secondary that far behind gets the whole zone.
const (
	MaxDiffs   = 256
	MaxRecords = 100000
)

// With returns h with d appended; a d that does not start where h ends
// starts a new history.
func (h *History) With(d Diff) *History {
	n := &History{}
	if h != nil && len(h.diffs) > 0 && h.diffs[len(h.diffs)-1].To == d.From {
		n.diffs = slices.Clone(h.diffs)
		n.size = h.size
	}
	n.diffs = append(n.diffs, d)
	n.size += len(d.Del) + len(d.Add)
	for len(n.diffs) > 1 && (len(n.diffs) > MaxDiffs || n.size > MaxRecords) {
		n.size -= len(n.diffs[0].Del) + len(n.diffs[0].Add)
		n.diffs = n.diffs[1:]
	}
	return n
}

// Since returns the steps from serial to the latest, or ok false when the
// history does not reach back to serial (the secondary needs the whole
// zone). A serial equal to the latest gives no steps and ok true.
func (h *History) Since(serial uint32) (steps []Diff, ok bool) {
	if h == nil || len(h.diffs) == 0 {
		return nil, false
	}
	if h.diffs[len(h.diffs)-1].To == serial {
		return nil, true
	}
	for i, d := range h.diffs {
		if d.From == serial {
			return h.diffs[i:], true
		}
	}
	return nil, false
}

// Len returns the number of steps held.
func (h *History) Len() int {
	if h == nil {
		return 0
	}
	return len(h.diffs)
}

// Changes returns what turns old into new: the records of old not in new,
// and of new not in old, compared with their TTLs. Neither input is
// modified.
func Changes(old, new []dns.RR) (del, add []dns.RR) {
	in := make(map[string]int, len(new))
	for _, rr := range new {
		in[rr.String()]++
	}
	was := make(map[string]int, len(old))
	for _, rr := range old {
		k := rr.String()
		was[k]++
		if in[k] > 0 {
			in[k]--
			continue
		}
		del = append(del, rr)
	}
	for _, rr := range new {
		k := rr.String()
		if was[k] > 0 {
			was[k]--
			continue
		}
		add = append(add, rr)
	}
	return del, add
}
