package update

import "time"

// Seen remembers the signed updates already evaluated, by key and MAC,
// with the rcode each was given, until its signature expires (time signed
// plus fudge: after that, the TSIG check refuses it with BADTIME). A
// captured update sent again within that window is then answered as
// before instead of being applied again (RFC 8945 §5.2.3 leaves replay
// protection to the server; BIND and Knot rely on the time check alone).
// A client retransmitting an update whose answer was lost gets the same
// answer.
//
// Memory is bounded: beyond max entries the oldest is forgotten, so a
// replay is caught only among the last max updates. Not safe for
// concurrent use: updates are evaluated one at a time.
type Seen struct {
	max   int
	m     map[string]seenEntry
	queue []string // keys in the order added, oldest first
}

type seenEntry struct {
	rcode   int
	expires time.Time
}

// NewSeen returns a Seen that keeps at most max updates.
func NewSeen(max int) *Seen {
	return &Seen{max: max, m: make(map[string]seenEntry)}
}

// Lookup returns the rcode the update signed by key with mac was given,
// if it is remembered and its signature has not expired at now.
func (s *Seen) Lookup(key, mac string, now time.Time) (int, bool) {
	e, ok := s.m[key+" "+mac]
	if !ok || now.After(e.expires) {
		return 0, false
	}
	return e.rcode, true
}

// Add remembers that the update signed by key with mac was given rcode,
// until expires; now is the clock's time.
func (s *Seen) Add(key, mac string, rcode int, expires, now time.Time) {
	k := key + " " + mac
	if _, ok := s.m[k]; !ok {
		s.queue = append(s.queue, k)
	}
	s.m[k] = seenEntry{rcode: rcode, expires: expires}
	// The oldest go when there are too many, and while they have expired
	// (so that a quiet server holds little).
	for len(s.queue) > 0 {
		e := s.m[s.queue[0]]
		if len(s.m) <= s.max && !now.After(e.expires) {
			break
		}
		delete(s.m, s.queue[0])
		s.queue = s.queue[1:]
	}
	if cap(s.queue) > 2*len(s.queue)+64 {
		s.queue = append([]string(nil), s.queue...)
	}
}

// Len returns how many updates are remembered.
func (s *Seen) Len() int { return len(s.m) }
