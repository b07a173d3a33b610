package dnslb

import (
	"hash/maphash"
	"sync/atomic"
)

// answerCache maps a question (lowercase wire name + type) to its answer. It
// is a fixed-size, 2-way set-associative table of atomic pointers: lookups
// take no lock and allocate nothing, and a full table overwrites instead of
// growing, so that a flood of random names costs only misses. It lives as
// long as its snapshot: answers never need invalidating.
type answerCache struct {
	seed  maphash.Seed
	slots []atomic.Pointer[answer]
	mask  uint64
	// door holds the hash of the last question offered (again) in each
	// slot: an answer to a name that is no node of its zone enters the
	// cache only when its question comes back before another one takes
	// its slot (doorkeeper admission, as in TinyLFU). Names that never
	// repeat then never evict the answers real traffic reuses.
	door     []atomic.Uint64
	doorMask uint64
}

// newAnswerCache makes a cache of at least size entries (a power of two).
func newAnswerCache(size int) *answerCache {
	n := 2
	for n < size {
		n <<= 1
	}
	return &answerCache{seed: maphash.MakeSeed(), slots: make([]atomic.Pointer[answer], n), mask: uint64(n - 2),
		door: make([]atomic.Uint64, n), doorMask: uint64(n - 1)}
}

// again reports whether key was offered before and not forgotten since,
// and remembers it. Two questions share a slot but not a 64-bit hash: an
// unseen question is admitted only by a full hash collision.
func (c *answerCache) again(key string) bool {
	h := maphash.String(c.seed, key) | 1 // 0: a free slot
	d := &c.door[(h>>32)&c.doorMask]
	if d.Load() == h {
		return true
	}
	d.Store(h)
	return false
}

func (c *answerCache) get(key []byte) *answer {
	i := maphash.Bytes(c.seed, key) & c.mask
	if a := c.slots[i].Load(); a != nil && a.key == string(key) {
		return a
	}
	if a := c.slots[i+1].Load(); a != nil && a.key == string(key) {
		return a
	}
	return nil
}

// put stores a, over an answer to the same question (one whose
// signatures are due, say), else in the free way of its set or over the
// older guess.
func (c *answerCache) put(a *answer) {
	i := maphash.String(c.seed, a.key) & c.mask
	switch {
	case sameKey(c.slots[i].Load(), a):
		c.slots[i].Store(a)
	case sameKey(c.slots[i+1].Load(), a):
		c.slots[i+1].Store(a)
	case c.slots[i].Load() == nil:
		c.slots[i].Store(a)
	case c.slots[i+1].Load() == nil:
		c.slots[i+1].Store(a)
	default:
		// Move the first way to the second, so that the newest entry is
		// found first and the older of the two is the one evicted next.
		c.slots[i+1].Store(c.slots[i].Load())
		c.slots[i].Store(a)
	}
}

func sameKey(old, a *answer) bool { return old != nil && old.key == a.key }
