package geo

import "math/bits"

// table4 is the IPv4 part of a table (::ffff:0:0/96) with 32-bit keys and
// a jump index by the first 16 bits, so that an IPv4 lookup searches a few
// neighbouring ranges in 4-byte keys instead of the whole table.
type table4 struct {
	start []uint32
	list  []int32
	jump  []uint32 // jump[j]: the range holding address j<<16; jump[65536] = last
}

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
		t4.start = append(t4.start, s)
		t4.list = append(t4.list, t.list[i])
	}
	t4.jump = make([]uint32, 1<<16+1)
	i := 0
	for j := range 1 << 16 {
		a := uint32(j) << 16
		for i+1 < len(t4.start) && t4.start[i+1] <= a {
			i++
		}
		t4.jump[j] = uint32(i)
	}
	t4.jump[1<<16] = uint32(len(t4.start) - 1)
	return t4
}

// find returns the index of the range holding a.
func (t *table4) find(a uint32) int {
	j := a >> 16
	lo, hi := int(t.jump[j]), int(t.jump[j+1])+1
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if t.start[m] <= a {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}

// lookup returns the list of a and its scope in IPv4 bits.
func (t *table4) lookup(a uint32) (int32, int) {
	i := t.find(a)
	first, last := t.bounds(i)
	return t.list[i], scope32(a, first, last)
}

// bounds returns the first and last address of range i.
func (t *table4) bounds(i int) (uint32, uint32) {
	if i+1 < len(t.start) {
		return t.start[i], t.start[i+1] - 1
	}
	return t.start[i], 0xffffffff
}

// scope32 is scope for 32-bit addresses.
func scope32(k, first, last uint32) int {
	pf := 32 - bits.TrailingZeros32(first)
	if k != first {
		pf = min(pf, bits.LeadingZeros32(k^first)+1)
	}
	pl := 32 - bits.TrailingZeros32(^last)
	if k != last {
		pl = min(pl, bits.LeadingZeros32(k^last)+1)
	}
	return max(pf, pl, 0)
}

// splitTables returns t without its IPv4 part, and that part.
func splitTables(t *table) (*table, *table4) {
	t4 := newTable4(t)
	if len(t4.list) > 1 { // else the IPv4 space lies in one range of t, which costs nothing
		t.dropV4()
	}
	return t, t4
}
