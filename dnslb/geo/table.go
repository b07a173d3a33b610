package geo

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
)

// u128 is an address of the IPv6 space (IPv4 as ::ffff:0:0/96) as a number.
type u128 struct{ hi, lo uint64 }

func addrKey(a netip.Addr) u128 {
	b := a.As16() // an IPv4 address comes v4-mapped
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) compare(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func (a u128) addOne() u128 {
	lo := a.lo + 1
	hi := a.hi
	if lo == 0 {
		hi++
	}
	return u128{hi, lo}
}

func (a u128) subOne() u128 {
	hi := a.hi
	if a.lo == 0 {
		hi--
	}
	return u128{hi, a.lo - 1}
}

func (a u128) xor(b u128) u128 { return u128{a.hi ^ b.hi, a.lo ^ b.lo} }

func (a u128) leadingZeros() int {
	if a.hi != 0 {
		return bits.LeadingZeros64(a.hi)
	}
	return 64 + bits.LeadingZeros64(a.lo)
}

var maxU128 = u128{^uint64(0), ^uint64(0)}

// prefixRange is the first and last address of p.
func prefixRange(p netip.Prefix) (u128, u128) {
	it := newItem(p, false, 0)
	return it.start, it.end()
}

// item is one rule over a block of addresses before compilation: a
// database network or a nets entry.
type item struct {
	start u128
	bits  uint8 // prefix length in IPv6 space
	net   bool  // a nets entry: beats the database, longer beats shorter
	list  int32
}

// end is the last address of the block.
func (it item) end() u128 {
	var mask u128 // host bits set
	switch b := int(it.bits); {
	case b >= 128:
	case b >= 64:
		mask.lo = ^uint64(0) >> (b - 64)
	default:
		mask.lo = ^uint64(0)
		mask.hi = ^uint64(0) >> b
	}
	return u128{it.start.hi | mask.hi, it.start.lo | mask.lo}
}

// newItem is the item of prefix p (IPv4 as v4-mapped).
func newItem(p netip.Prefix, net bool, list int32) item {
	p = p.Masked()
	b := p.Bits()
	if p.Addr().Is4() {
		b += 96
	}
	return item{start: addrKey(p.Addr()), bits: uint8(b), net: net, list: list}
}

// table is the compiled map: disjoint ranges covering the whole space,
// neighbours with the same list merged. starts[i] begins range i, which
// ends where range i+1 begins.
type table struct {
	hi, lo []uint64 // starts, split for a compact binary search
	list   []int32
}

// build sweeps the items (CIDR blocks: any two are nested or disjoint) in
// address order with a stack of the blocks that contain the cursor. The
// innermost block decides, but a nets entry is never overridden by a
// database network inside it. Of two equal blocks the later item rules.
func build(items []item, dflt int32) *table {
	slices.SortStableFunc(items, func(a, b item) int {
		if c := a.start.compare(b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.bits, b.bits) // outer first
	})
	type open struct {
		end  u128
		list int32
		net  bool
	}
	t := &table{}
	// emit begins a range at start; one that begins where the last one
	// began replaces it, and neighbours with the same list merge.
	emit := func(start u128, list int32) {
		n := len(t.list)
		if n > 0 && t.hi[n-1] == start.hi && t.lo[n-1] == start.lo {
			t.list[n-1] = list
			if n > 1 && t.list[n-2] == list {
				t.hi, t.lo, t.list = t.hi[:n-1], t.lo[:n-1], t.list[:n-1]
			}
			return
		}
		if n > 0 && t.list[n-1] == list {
			return
		}
		t.hi = append(t.hi, start.hi)
		t.lo = append(t.lo, start.lo)
		t.list = append(t.list, list)
	}
	emit(u128{}, dflt)
	stack := []open{{end: maxU128, list: dflt}}
	for _, it := range items {
		for top := stack[len(stack)-1]; top.end.less(it.start); top = stack[len(stack)-1] {
			// The block ends before this item: what follows it belongs
			// to the block below (the root never ends).
			stack = stack[:len(stack)-1]
			emit(top.end.addOne(), stack[len(stack)-1].list)
		}
		top := stack[len(stack)-1]
		end := it.end()
		if top.end.less(end) {
			continue // overlaps without nesting: not a CIDR block
		}
		o := open{end: end, list: it.list, net: it.net}
		if top.net && !it.net {
			o.list, o.net = top.list, true
		}
		emit(it.start, o.list)
		stack = append(stack, o)
	}
	for len(stack) > 1 {
		top := stack[len(stack)-1]
		if top.end == maxU128 {
			break // so do the blocks below it
		}
		stack = stack[:len(stack)-1]
		emit(top.end.addOne(), stack[len(stack)-1].list)
	}
	t.hi = slices.Clip(t.hi)
	t.lo = slices.Clip(t.lo)
	t.list = slices.Clip(t.list)
	return t
}

// find returns the index of the range holding k.
func (t *table) find(k u128) int {
	// Largest i with start(i) <= k; start(0) is 0.
	lo, hi := 0, len(t.list)
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if t.hi[m] < k.hi || t.hi[m] == k.hi && t.lo[m] <= k.lo {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}

// bounds returns the first and last address of range i.
func (t *table) bounds(i int) (u128, u128) {
	start := u128{t.hi[i], t.lo[i]}
	if i+1 == len(t.list) {
		return start, maxU128
	}
	return start, u128{t.hi[i+1], t.lo[i+1]}.subOne()
}

// scope is the shortest prefix length p such that the block of length p
// around k lies within [first, last]: every address of it gets k's answer.
// The block starts after first-1 when k and first-1 differ within the
// first p bits, and ends before last+1 when k and last+1 do.
func scope(k, first, last u128) int {
	p := 0
	if first != (u128{}) {
		p = k.xor(first.subOne()).leadingZeros() + 1
	}
	if last != maxU128 {
		p = max(p, k.xor(last.addOne()).leadingZeros()+1)
	}
	return p
}

// cut replaces the ranges within each space (which table4 or an embedded
// IPv4 address answers for) by one range of list -1, never looked up. A
// range that ran across an edge of a space is cut there: its scopes can
// only get longer, never wrong. The spaces are in address order, apart
// and not next to each other.
func (t *table) cut(sps []*space) {
	n := len(t.list) + 2*len(sps)
	hi, lo, list := make([]uint64, 0, n), make([]uint64, 0, n), make([]int32, 0, n)
	add := func(k u128, l int32) {
		hi, lo, list = append(hi, k.hi), append(lo, k.lo), append(list, l)
	}
	i := 0 // the next range of t to copy
	for _, sp := range sps {
		i0, i1 := t.find(sp.first), t.find(sp.last)
		end := i0 + 1
		if t.hi[i0] == sp.first.hi && t.lo[i0] == sp.first.lo {
			end = i0 // range i0 begins the space: it is replaced
		}
		for ; i < end; i++ {
			add(u128{t.hi[i], t.lo[i]}, t.list[i])
		}
		add(sp.first, -1)
		if after := sp.last.addOne(); sp.last != maxU128 && (i1+1 == len(t.list) || t.hi[i1+1] != after.hi || t.lo[i1+1] != after.lo) {
			add(after, t.list[i1]) // range i1 goes on past the space
		}
		i = max(i, i1+1)
	}
	for ; i < len(t.list); i++ {
		add(u128{t.hi[i], t.lo[i]}, t.list[i])
	}
	t.hi, t.lo, t.list = slices.Clip(hi), slices.Clip(lo), slices.Clip(list)
}
