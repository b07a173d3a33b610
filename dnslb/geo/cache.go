package geo

import (
	"sync/atomic"
	"unsafe"
)

// cache remembers the answers to clients met lately, so that the clients a
// server hears from most find theirs in one cache line instead of the
// table's several, far apart. An IPv4 client is keyed by its address; an
// ECS client subnet comes with its host bits zero, so all the clients of a
// subnet share an entry. An IPv6 client is keyed by its /56, and its answer
// is kept only when its scope is at most 56: then it is every address of
// the /56's answer, scope included.
//
// An IPv4 address picks its set by Fibonacci hashing (the top bits of
// its product with a constant), and its entry's tag is 1<<42 | the
// address. A /56 is multiplied by an odd number modulo 2^56, a bijection,
// so that the top bits of the product can pick the set and the other 42,
// the tag, still tell the /56. Each entry is one word, valid<<63 |
// tag<<20 | list<<6 | scope, stored and loaded atomically, so that workers
// fill it without a lock and never see half an entry. A set is four
// entries in 32 bytes (half a cache line: the array is page-aligned), so
// that a few clients whose keys hash alike do not evict each other on
// every turn, as they did in sets of two. A lookup reads the four and
// picks the match without a branch; a miss stores one word. The table
// never changes, so an entry never goes stale: a reload that compiles a
// new map starts with an empty cache.
//
// 65,536 entries (512 KiB) hold the clients of a busy server; the set is
// prefetched when the query is read (Prefetch4, Prefetch6), so that even
// a set that is not in the CPU's caches costs little.
type cache [cacheSets]cacheSet

// cacheSet is one set of the cache: an entry per way.
type cacheSet [cacheWays]atomic.Uint64

const (
	cacheSetBits = 14
	cacheSets    = 1 << cacheSetBits
	cacheWays    = 4
	tagShift     = 20
	tag4         = 1 << 42             // marks an IPv4 tag
	cacheLists   = 1 << (tagShift - 6) // lists of this index or more are not kept
	cacheScopes  = 1 << 6              // nor scopes of this length or more
	cacheValid   = 1 << 63
	mul6         = 0x9e3779b97f4a7c15 & (1<<56 - 1) // odd
)

// slot4 returns the set of IPv4 address a and the bits of an entry that
// name it.
func (c *cache) slot4(a uint32) (*cacheSet, uint64) {
	return c.set4(a), cacheValid | (tag4|uint64(a))<<tagShift
}

func (c *cache) set4(a uint32) *cacheSet { return &c[(a*0x9e3779b1)>>(32-cacheSetBits)] }

// slot6 is slot4 of the /56 that is the first 56 bits of hi.
func (c *cache) slot6(hi uint64) (*cacheSet, uint64) {
	h := hash6(hi)
	return &c[h>>(56-cacheSetBits)], cacheValid | (h&(1<<(56-cacheSetBits)-1))<<tagShift
}

func hash6(hi uint64) uint64 { return (hi >> 8) * mul6 & (1<<56 - 1) }

// get returns the entry of set whose key bits are want, or 0: the one
// whose bits above tagShift equal want's.
func (set *cacheSet) get(want uint64) (e uint64) {
	for i := range set {
		// Which way holds it varies from client to client: selected with
		// a conditional move, not a branch the CPU would mispredict.
		if x := set[i].Load(); x^want < 1<<tagShift {
			e = x
		}
	}
	return e
}

// store keeps list and scope under want, unless they do not fit an entry.
func (set *cacheSet) store(want uint64, list int32, scope int) {
	if uint32(list) >= cacheLists || uint(scope) >= cacheScopes {
		return
	}
	e0, e1, e2, e3 := set[0].Load(), set[1].Load(), set[2].Load(), set[3].Load()
	set[victim(want, e0, e1, e2, e3)].Store(want | uint64(list)<<6 | uint64(scope))
}

// victim picks the way a new entry takes: an empty one, else one that a
// hash of the set's contents and the new key picks, so that it changes as
// the set does (a fixed way per key would make the set a direct-mapped
// cache again).
func victim(want, e0, e1, e2, e3 uint64) int {
	switch {
	case e0&cacheValid == 0:
		return 0
	case e1&cacheValid == 0:
		return 1
	case e2&cacheValid == 0:
		return 2
	case e3&cacheValid == 0:
		return 3
	}
	x := e0 ^ e1>>7 ^ e2>>13 ^ e3>>19 ^ want>>tagShift
	return int((x * 0x9e3779b97f4a7c15) >> 62)
}

// lookup4 is t4.lookup through the cache.
func (m *Map) lookup4(a uint32) (int32, int) {
	set, want := m.c.slot4(a)
	if e := set.get(want); e != 0 {
		return int32(e >> 6 & (cacheLists - 1)), int(e & (cacheScopes - 1))
	}
	return m.miss4(a, set, want)
}

// miss4 is lookup4's answer to a from the table, kept in set.
func (m *Map) miss4(a uint32, set *cacheSet, want uint64) (int32, int) {
	l, s := m.t4.lookup(a)
	set.store(want, l, s)
	return l, s
}

// miss6 is Lookup6's answer to k from the table, kept in set when it
// holds for the whole /56.
func (m *Map) miss6(k u128, set *cacheSet, want uint64) (int, int) {
	i := m.t.find(k)
	first, last := m.t.bounds(i)
	l, s := m.t.list[i], scope(k, first, last)
	if s <= 56 { // else another address of the /56 may get another scope
		set.store(want, l, s)
	}
	return int(l), s
}

// Prefetch4 starts loading the cache set of IPv4 address a, so that a
// lookup soon after finds it in the nearest cache.
func (m *Map) Prefetch4(a uint32) {
	prefetch((*uint64)(unsafe.Pointer(m.c.set4(a))))
}

// Prefetch6 is Prefetch4 for an IPv6 address whose first 64 bits are hi.
func (m *Map) Prefetch6(hi uint64) {
	prefetch((*uint64)(unsafe.Pointer(&m.c[hash6(hi)>>(56-cacheSetBits)])))
}
