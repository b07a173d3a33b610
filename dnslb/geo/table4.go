package geo

import (
	"math/bits"
	"slices"
)

// table4 is the IPv4 part of a table (::ffff:0:0/96) with 32-bit keys,
// laid out so that a lookup reads few cache lines: the jump word of the
// address's /16 (sixteen to a line), then that /16's node (sixteen words,
// one line), then at most one block of sixteen ranges (another line),
// each range's start packed beside its list in one word.
//
// A /16 that lies within one range (most do, once neighbours with the same
// list are merged) is answered by its jump word alone: every
// address of it has the same list and the same scope (its range's edges
// lie outside the /16, so they differ from each address within its first
// 16 bits).
//
// Within a /16 of several ranges, an edge outside the /16 never decides
// the scope: it differs from the address within the first 16 bits (scope
// ≤ 16), while the range's other edge lies inside (scope ≥ 17). So the
// words of one /16, which know only their own /16, tell the scope exactly.
type table4 struct {
	// ranges holds every range as start<<32 | list, for Range and for
	// lists a word cannot name.
	ranges []uint64
	// jump: per /16, slotWhole | scope<<24 | list when the /16 lies
	// within one range, else the number of its node in nodes.
	jump []uint32
	// nodes: 16 words per /16 of several ranges. Word 0 says what the
	// others hold:
	//   slotSmall | n: words 1..n are the n ≤ 15 ranges meeting the /16.
	//   slotBlocks | n<<21 | b: the n ≤ 256 ranges are in blocks from
	//     blocks[16*b], sixteen a block; word k (1..15) is the start of
	//     block k, or 1<<16 past the last block.
	//   slotHuge: blocks[word 1:][:word 2] are the ranges.
	// A range is start<<16 | list, the first's start as 0, list
	// leafEscape when it does not fit in 16 bits.
	nodes  []uint32
	blocks []uint32
}

const (
	slotKind   = 3 << 30
	slotWhole  = 2 << 30
	slotSmall  = 0 << 30
	slotBlocks = 1 << 30
	slotHuge   = 3 << 30
	// noStart follows the last range of a /16: no address is at or after it.
	noStart = 1 << 16
)

// maxLists4 bounds the lists of a map (a jump word names one in 24 bits).
const maxLists4 = 1 << 24

// leafEscape marks a range whose list is looked up in ranges.
const leafEscape = 0xffff

var (
	v4First = u128{0, 0x0000ffff00000000}
	v4Last  = u128{0, 0x0000ffffffffffff}
)

// newTable4 builds the IPv4 part of t. Words name lists below leafLists
// (at most leafEscape; tests lower it to exercise the escape).
func newTable4(t *table, leafLists int32) *table4 {
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
	t4.jump = make([]uint32, 1<<16)
	var words []uint32
	i := 0
	for j := range 1 << 16 {
		a := uint32(j) << 16
		for i+1 < len(t4.ranges) && t4.start(i+1) <= a {
			i++
		}
		if first, last := t4.bounds(i); last >= a|0xffff {
			t4.jump[j] = slotWhole | uint32(scope32(a, first, last))<<24 | uint32(t4.list(i))
			continue
		}
		t4.jump[j] = uint32(len(t4.nodes) / 16)
		t4.nodes = append(t4.nodes, make([]uint32, 16)...)
		slot := t4.nodes[len(t4.nodes)-16:]
		words = words[:0]
		for k := i; k < len(t4.ranges) && t4.start(k) <= a|0xffff; k++ {
			l := uint32(leafEscape)
			if t4.list(k) < leafLists {
				l = uint32(t4.list(k))
			}
			words = append(words, uint32(uint16(max(t4.start(k), a)))<<16|l)
		}
		n := len(words)
		switch {
		case n <= 15:
			slot[0] = slotSmall | uint32(n)
			copy(slot[1:], words)
		case n <= 256 && len(t4.blocks)/16 < 1<<21:
			slot[0] = slotBlocks | uint32(n)<<21 | uint32(len(t4.blocks)/16)
			for k := 1; k < 16; k++ {
				slot[k] = noStart
				if 16*k < n {
					slot[k] = words[16*k] >> 16
				}
			}
			t4.blocks = append(t4.blocks, words...)
			for len(t4.blocks)%16 != 0 {
				t4.blocks = append(t4.blocks, 0) // never searched
			}
		default:
			slot[0] = slotHuge
			slot[1], slot[2] = uint32(len(t4.blocks)), uint32(n)
			t4.blocks = append(t4.blocks, words...)
		}
	}
	t4.nodes = slices.Clip(t4.nodes)
	t4.blocks = slices.Clip(t4.blocks)
	return t4
}

// search returns the largest i < len(words) with words[i]'s start <= low
// (words[0]'s is 0). The halving keeps the loop free of unpredictable
// branches (the compiler uses a conditional move).
func search(words []uint32, low uint32) int {
	key := low<<16 | 0xffff
	base, n := 0, len(words)
	for n > 1 {
		half := n >> 1
		if words[base+half] <= key {
			base += half
		}
		n -= half
	}
	return base
}

// word returns, for an address of a /16 that is not whole, the word of
// its range, the start of the next range in the /16 (noStart: none), and
// whether its range begins inside the /16.
func (t *table4) word(slot []uint32, low uint32) (w, next uint32, inside bool) {
	slot = slot[:16]
	var words []uint32
	var i int
	switch h := slot[0]; h & slotKind {
	case slotSmall:
		words = slot[1 : 1+h&0xff]
		i = search(words, low)
		inside = i > 0
	case slotBlocks:
		// The block: how many of the starts of blocks 1..15 are <= low
		// (they ascend; past the last they are noStart).
		b := uint32(15)
		for _, s := range slot[1:] {
			b -= (low - s) >> 31
		}
		n := h >> 21 & 0x1ff
		off := 16 * (h&(1<<21-1) + b)
		words = t.blocks[off : off+min(16, n-16*b)]
		i = search(words, low)
		inside = i > 0 || b > 0
		if i+1 == len(words) && b < 15 {
			return words[i], slot[b+1], inside
		}
	default: // slotHuge
		words = t.blocks[slot[1] : slot[1]+slot[2]]
		i = search(words, low)
		inside = i > 0
	}
	next = noStart
	if i+1 < len(words) {
		next = words[i+1] >> 16
	}
	return words[i], next, inside
}

// lookup returns the list of a and its scope in IPv4 bits.
func (t *table4) lookup(a uint32) (int32, int) {
	e := t.jump[a>>16]
	if e&slotWhole != 0 {
		return int32(e & (maxLists4 - 1)), int(e >> 24 & 0x1f)
	}
	low := a & 0xffff
	w, next, inside := t.word(t.nodes[16*e:], low)
	s := 0
	if inside {
		s = bits.LeadingZeros32((low^(w>>16-1))<<16) + 17
	}
	if next != noStart {
		s = max(s, bits.LeadingZeros32((low^next)<<16)+17)
	}
	l := int32(w & 0xffff)
	if l == leafEscape {
		l = t.list(t.find(a))
	}
	return l, s
}

func (t *table4) start(i int) uint32 { return uint32(t.ranges[i] >> 32) }
func (t *table4) list(i int) int32   { return int32(uint32(t.ranges[i])) }
func (t *table4) len() int           { return len(t.ranges) }

// find returns the index in ranges of the range holding a (cold path).
func (t *table4) find(a uint32) int {
	lo, hi := 0, len(t.ranges)
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

// splitTables returns t without the spaces of IPv4 addresses (table4
// answers for them), and its IPv4 part.
func splitTables(t *table, leafLists int32) (*table, *table4) {
	t4 := newTable4(t, leafLists)
	t.cut(spaces)
	return t, t4
}
