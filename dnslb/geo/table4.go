package geo

import "math/bits"

// table4 is the IPv4 part of a table (::ffff:0:0/96) with 32-bit keys and
// a jump index by the first 16 bits, so that an IPv4 lookup reads the jump
// index and one or two cache lines of neighbouring ranges. Each range is
// one word, start<<32 | list, so that its list comes with its start.
//
// A /16 that lies within one range (most do, once neighbours with the same
// list are merged) is answered by its jump entry alone: every address of it
// has the same list and the same scope (its range's edges lie outside the
// /16, so they differ from each address within its first 16 bits).
type table4 struct {
	ranges []uint64
	// jump[j] is, in its low 32 bits, the range holding address j<<16
	// (jump[65536]: the last); with jumpWhole set, that range holds the
	// whole /16 and bits 32-55 are its list, bits 56-62 its scope.
	jump []uint64
}

const jumpWhole = 1 << 63

// maxLists4 bounds the lists a jump entry can name.
const maxLists4 = 1 << 24

var (
	v4First = u128{0, 0x0000ffff00000000}
	v4Last  = u128{0, 0x0000ffffffffffff}
)

func newTable4(t *table) *table4 {
	t4 := &table4{}
	for i := t.find(v4First); i < len(t.list); i++ {
		first, _ := t.bounds(i)
		if v4Last.less(first) {
			break
		}
		s := uint32(0)
		if v4First.less(first) {
			s = uint32(first.lo)
		}
		t4.ranges = append(t4.ranges, uint64(s)<<32|uint64(uint32(t.list[i])))
	}
	t4.jump = make([]uint64, 1<<16+1)
	i := 0
	for j := range 1 << 16 {
		a := uint32(j) << 16
		for i+1 < len(t4.ranges) && t4.start(i+1) <= a {
			i++
		}
		t4.jump[j] = uint64(i)
		if first, last := t4.bounds(i); last >= a|0xffff && uint32(t4.list(i)) < maxLists4 {
			t4.jump[j] |= jumpWhole | uint64(scope32(a, first, last))<<56 | uint64(t4.list(i))<<32
		}
	}
	t4.jump[1<<16] = uint64(len(t4.ranges) - 1)
	return t4
}

func (t *table4) start(i int) uint32 { return uint32(t.ranges[i] >> 32) }
func (t *table4) list(i int) int32   { return int32(uint32(t.ranges[i])) }
func (t *table4) len() int           { return len(t.ranges) }

// find returns the index of the range holding a.
func (t *table4) find(a uint32) int {
	j := a >> 16
	lo, hi := int(uint32(t.jump[j])), int(uint32(t.jump[j+1]))+1
	key := uint64(a)<<32 | 0xffffffff
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if t.ranges[m] <= key {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}

// lookup returns the list of a and its scope in IPv4 bits.
func (t *table4) lookup(a uint32) (int32, int) {
	if e := t.jump[a>>16]; e&jumpWhole != 0 {
		return int32(e >> 32 & (maxLists4 - 1)), int(e >> 56 & 0x7f)
	}
	i := t.find(a)
	first, last := t.bounds(i)
	return t.list(i), scope32(a, first, last)
}

// bounds returns the first and last address of range i.
func (t *table4) bounds(i int) (uint32, uint32) {
	if i+1 < len(t.ranges) {
		return t.start(i), t.start(i+1) - 1
	}
	return t.start(i), 0xffffffff
}

// scope32 is scope for 32-bit addresses.
func scope32(k, first, last uint32) int {
	// The block of length p around k starts after first-1 when k and
	// first-1 differ within the first p bits, and ends before last+1 when
	// k and last+1 do.
	p := 0
	if first > 0 {
		p = bits.LeadingZeros32(k^(first-1)) + 1
	}
	if last < 0xffffffff {
		p = max(p, bits.LeadingZeros32(k^(last+1))+1)
	}
	return p
}

// splitTables returns t without its IPv4 part, and that part.
func splitTables(t *table) (*table, *table4) {
	t4 := newTable4(t)
	if t4.len() > 1 { // else the IPv4 space lies in one range of t, which costs nothing
		t.dropV4()
	}
	return t, t4
}

// listOf returns the list of a.
func (t *table4) listOf(a uint32) int32 {
	if e := t.jump[a>>16]; e&jumpWhole != 0 {
		return int32(e >> 32 & (maxLists4 - 1))
	}
	return t.list(t.find(a))
}
