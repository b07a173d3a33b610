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
// see half an entry. Sets of two entries share a cache line; a new entry
// goes first and pushes the older one to second place. The table never
// changes, so an entry never goes stale: a reload that compiles a new map
// starts with an empty cache.
type cache4 [2 * cacheSets]atomic.Uint64

const (
	cacheSets  = 1 << 11 // 4,096 entries, 32 KiB
	cacheValid = 1 << 63
	cacheKey   = ^uint64(1<<30 - 1) // valid and address
)

// lookup4 is t4.lookup through the cache.
func (m *Map) lookup4(a uint32) (int32, int) {
	tag := uint64(cacheValid) | uint64(a)<<30
	i := 2 * (a * 0x9e3779b1 >> (32 - 11)) // Fibonacci hashing
	c := m.c4
	e := c[i].Load()
	if e&cacheKey == tag {
		return int32(e >> 6 & (maxLists4 - 1)), int(e & 0x3f)
	}
	if e1 := c[i+1].Load(); e1&cacheKey == tag {
		return int32(e1 >> 6 & (maxLists4 - 1)), int(e1 & 0x3f)
	}
	l, s := m.t4.lookup(a)
	c[i+1].Store(e)
	c[i].Store(tag | uint64(l)<<6 | uint64(s))
	return l, s
}
