package geo

import "sync/atomic"

// cache4 remembers the answers to IPv4 addresses met lately, so that the
// clients a server hears from most find theirs in a few hot cache lines
// instead of the table's (a slot, then a block, far apart). An ECS client
// subnet comes with its host bits zero, so all the clients of a subnet
// share an entry.
//
// Each entry is one word: valid<<63 | address<<30 | list<<6 | scope, stored
// and loaded atomically, so that workers fill it without a lock and never
// see half an entry. A set is four entries in 32 bytes (half a cache
// line: the array is page-aligned), so that a few clients whose addresses
// hash alike do not evict each other on every turn, as they did in sets
// of two. A lookup reads the four and picks the match without a branch
// per way; a miss stores one word. The table never changes, so an entry
// never goes stale: a reload that compiles a new map starts with an empty
// cache.
type cache4 [cacheSets][cacheWays]atomic.Uint64

const (
	cacheSetBits = 10
	cacheSets    = 1 << cacheSetBits // 4,096 entries, 32 KiB
	cacheWays    = 4
	cacheValid   = 1 << 63
	cacheKey     = ^uint64(1<<30 - 1) // valid and address
)

// lookup4 is t4.lookup through the cache.
func (m *Map) lookup4(a uint32) (int32, int) {
	tag := uint64(cacheValid) | uint64(a)<<30
	h := a * 0x9e3779b1 // Fibonacci hashing: the top bits pick the set
	set := &m.c4[h>>(32-cacheSetBits)]
	e0, e1, e2, e3 := set[0].Load(), set[1].Load(), set[2].Load(), set[3].Load()
	// Which way holds the address varies from client to client: selected
	// with conditional moves, not branches the CPU would mispredict.
	var e uint64
	if e0&cacheKey == tag {
		e = e0
	}
	if e1&cacheKey == tag {
		e = e1
	}
	if e2&cacheKey == tag {
		e = e2
	}
	if e3&cacheKey == tag {
		e = e3
	}
	if e != 0 {
		return int32(e >> 6 & (maxLists4 - 1)), int(e & 0x3f)
	}
	l, s := m.t4.lookup(a)
	set[victim(h, e0, e1, e2, e3)].Store(tag | uint64(l)<<6 | uint64(s))
	return l, s
}

// victim picks the way a new entry takes: an empty one, else one that a
// hash of the set's contents and the new address picks, so that it
// changes as the set does (a fixed way per address would make the set a
// direct-mapped cache again).
func victim(h uint32, e0, e1, e2, e3 uint64) int {
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
	x := e0 ^ e1>>7 ^ e2>>13 ^ e3>>19 ^ uint64(h)
	return int((x * 0x9e3779b97f4a7c15) >> 62)
}
