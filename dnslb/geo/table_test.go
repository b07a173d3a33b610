package geo

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// naive is the rule as written: the longest nets entry containing a, else
// the database network containing a, else the default.
func naive(items []item, dflt int32, a netip.Addr) int32 {
	k := addrKey(a.Unmap())
	best, bestBits, db := int32(-1), -1, int32(-1)
	for _, it := range items {
		if k.less(it.start) || it.end().less(k) {
			continue
		}
		if it.net && int(it.bits) >= bestBits {
			best, bestBits = it.list, int(it.bits)
		} else if !it.net {
			db = it.list
		}
	}
	switch {
	case best >= 0:
		return best
	case db >= 0:
		return db
	}
	return dflt
}

// randomItems makes disjoint database networks and nested nets, all
// within a small part of the space so that they meet often.
func randomItems(r *rand.Rand, v4 bool) []item {
	var items []item
	mk := func(bits int, net bool) item {
		var p netip.Prefix
		if v4 {
			a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
			p = netip.PrefixFrom(a, bits).Masked()
		} else {
			a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(4)), byte(r.IntN(256))})
			p = netip.PrefixFrom(a, bits+16).Masked()
		}
		return newItem(p, net, int32(r.IntN(4)))
	}
	// Database networks: disjoint, as a database's are.
	for range 20 {
		it := mk(14+r.IntN(12), false)
		ok := true
		for _, o := range items {
			if !(it.end().less(o.start) || o.end().less(it.start)) {
				ok = false
			}
		}
		if ok {
			items = append(items, it)
		}
	}
	for range 10 {
		items = append(items, mk(10+r.IntN(16), true))
	}
	return items
}

func randomAddr(r *rand.Rand, v4 bool) netip.Addr {
	if v4 {
		return netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256)), 15: byte(r.IntN(256))})
}

// TestTableMatchesRules compares the compiled table with the rules applied
// one by one, and checks the scope property: every address inside the
// /scope of an answer gets the same list.
func TestTableMatchesRules(t *testing.T) {
	for _, mode := range []string{"v4", "v6", "both", "v4-escape"} {
		r := rand.New(rand.NewPCG(1, 2))
		leafLists := int32(leafEscape)
		if mode == "v4-escape" { // lists 2 and up are looked up in ranges
			mode, leafLists = "v4", 2
		}
		for round := range 120 {
			v4 := mode == "v4"
			items := randomItems(r, v4)
			if mode == "both" { // the IPv4 part is dropped from the IPv6 table
				items = append(items, randomItems(r, true)...)
			}
			orig := append([]item(nil), items...)
			m := newMapLeaf(build(items, 9), leafLists)
			for range 200 {
				if mode == "both" {
					v4 = r.IntN(2) == 0
				}
				a := randomAddr(r, v4)
				list, s := m.Lookup(a)
				if l, _ := m.Lookup(a); l != list {
					t.Fatalf("%s: List %d, Lookup %d", a, l, list)
				}
				if want := naive(orig, 9, a); int32(list) != want {
					t.Fatalf("v4=%v round %d: %s gets list %d, want %d", v4, round, a, list, want)
				}
				p := netip.PrefixFrom(a, s).Masked()
				for range 20 {
					b := randomIn(r, p)
					if got, _ := m.Lookup(b); got != list {
						t.Fatalf("v4=%v round %d: %s has scope /%d but %s in %s gets list %d, not %d", v4, round, a, s, b, p, got, list)
					}
				}
				// The scope is the widest such block: the block one bit
				// wider holds an address with another list (naive check
				// on its two ends and the other half's extremes).
				if s > 0 {
					wider := netip.PrefixFrom(a, s-1).Masked()
					if sameEverywhere(orig, 9, wider, int32(list)) {
						t.Fatalf("v4=%v round %d: %s scope /%d, but all of %s gets list %d", v4, round, a, s, wider, list)
					}
				}
			}
		}
	}
}

// sameEverywhere reports whether every address of p gets list, checking
// the boundaries of every item within p (the answer changes only there).
func sameEverywhere(items []item, dflt int32, p netip.Prefix, list int32) bool {
	first, last := prefixRange(p)
	check := func(k u128) bool {
		if k.less(first) || last.less(k) {
			return true
		}
		return naive(items, dflt, keyAddr(k)) == list
	}
	if !check(first) || !check(last) {
		return false
	}
	for _, it := range items {
		if !check(it.start) || !check(it.end()) || (it.start != u128{} && !check(it.start.subOne())) || (it.end() != maxU128 && !check(it.end().addOne())) {
			return false
		}
	}
	return true
}

func randomIn(r *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		b[i] |= byte(r.IntN(256))
	}
	a, _ := netip.AddrFromSlice(b)
	// Keep the prefix bits.
	pb := p.Addr().AsSlice()
	for i := range b {
		keep := min(max(p.Bits()-8*i, 0), 8)
		mask := byte(0xff << (8 - keep))
		b[i] = pb[i]&mask | b[i]&^mask
	}
	a, _ = netip.AddrFromSlice(b)
	return a
}

func TestScopeEdges(t *testing.T) {
	tests := []struct {
		items []string // "prefix=list", nets
		addr  string
		list  int
		scope int
	}{
		{nil, "192.0.2.1", 9, 0},
		{nil, "2001:db8::1", 9, 21}, // Teredo's 2001::/32 next door is a space of its own
		{nil, "2002::1", 9, 16},     // IPv4 all default: all of 6to4
		{nil, "2001::1", 9, 32},     // and of Teredo
		{nil, "::1", 9, 96},         // and of v4-compatible
		{[]string{"10.0.0.0/8"}, "2002:a01:203::", 0, 16 + 8},
		{[]string{"10.0.0.0/8"}, "2001:0:4136:e378:8000:63bf:f5fe:fdfc", 0, 96 + 8}, // Teredo of 10.1.2.3
		{[]string{"10.0.0.0/8"}, "::ffff:10.1.2.3", 0, 96 + 8},
		{[]string{"2000::/3=1"}, "2003::1", 1, 16},                       // 6to4's 2002::/16 is cut out
		{[]string{"2000::/3=1", "2002::/16=2"}, "2002:a01:203::", 9, 16}, // an IPv6 rule does not apply in 6to4
		{[]string{"10.0.0.0/8"}, "10.1.2.3", 0, 8},
		{[]string{"10.0.0.0/8"}, "11.1.2.3", 9, 8},
		{[]string{"10.0.0.0/8"}, "192.0.2.1", 9, 1},
		{[]string{"10.0.0.0/8", "11.0.0.0/8"}, "10.1.2.3", 0, 7}, // merged with its neighbour
		{[]string{"10.0.0.0/8", "10.1.0.0/16=1"}, "10.2.0.1", 0, 15},
		{[]string{"10.0.0.0/8", "10.1.0.0/16=1"}, "10.1.0.1", 1, 16},
		{[]string{"2001:db8::/32"}, "2001:db8:1::1", 0, 32},
		{[]string{"2001:db8::/32"}, "10.0.0.1", 9, 0}, // IPv4 is all default
	}
	for _, tt := range tests {
		var items []item
		for _, s := range tt.items {
			list := 0
			if len(s) > 2 && s[len(s)-2] == '=' {
				list = int(s[len(s)-1] - '0')
				s = s[:len(s)-2]
			}
			p := netip.MustParsePrefix(s)
			items = append(items, newItem(p, true, int32(list)))
		}
		m := newMap(build(items, 9))
		list, s := m.Lookup(netip.MustParseAddr(tt.addr))
		if list != tt.list || s != tt.scope {
			t.Errorf("%v: %s gets list %d scope %d, want %d scope %d", tt.items, tt.addr, list, s, tt.list, tt.scope)
		}
	}
}

func TestLookupAllocatesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	m := newMap(build(randomItems(r, true), 0))
	a := netip.MustParseAddr("10.1.2.3")
	if n := testing.AllocsPerRun(100, func() { m.Lookup(a) }); n != 0 {
		t.Fatalf("Lookup allocates %v times", n)
	}
}

func newMap(t *table) *Map { return newMapLeaf(t, leafEscape) }

// newMapLeaf is newMap with leaves naming only lists below leafLists.
func newMapLeaf(t *table, leafLists int32) *Map {
	m := &Map{c: new(cache)}
	m.t, m.t4 = splitTables(t, leafLists)
	return m
}

// TestTable4Dense checks /16s of many ranges, which the IPv4 table keeps
// in its slot (up to 15), in blocks of sixteen (up to 256) or in one run
// beyond: lists and scopes against the rules, with and without lists
// that do not fit a word.
func TestTable4Dense(t *testing.T) {
	tests := []struct {
		n    int
		kind uint32
	}{{6, slotSmall}, {60, slotBlocks}, {100, slotBlocks}, {600, slotHuge}}
	for _, tt := range tests {
		for _, leafLists := range []int32{leafEscape, 3} {
			r := rand.New(rand.NewPCG(uint64(tt.n), 7))
			var items []item
			for range tt.n { // nested or disjoint, as nets are
				a := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(256)), byte(r.IntN(256))})
				items = append(items, newItem(netip.PrefixFrom(a, 20+r.IntN(13)), true, int32(r.IntN(6))))
			}
			orig := append([]item(nil), items...)
			m := newMapLeaf(build(items, 9), leafLists)
			if k := m.t4.nodes[16*m.t4.jump[0x0a00]] & slotKind; m.t4.jump[0x0a00]&slotWhole != 0 || k != tt.kind {
				t.Fatalf("%d nets: slot kind %x, want %x", tt.n, k>>30, tt.kind>>30)
			}
			for range 2000 {
				a := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(256)), byte(r.IntN(256))})
				list, s := m.Lookup(a)
				if l, _ := m.Lookup(a); l != list {
					t.Fatalf("%d nets: %s: List %d, Lookup %d", tt.n, a, l, list)
				}
				if want := naive(orig, 9, a); int32(list) != want {
					t.Fatalf("%d nets: %s gets list %d, want %d", tt.n, a, list, want)
				}
				p := netip.PrefixFrom(a, s).Masked()
				if !sameEverywhere(orig, 9, p, int32(list)) {
					t.Fatalf("%d nets: %s has scope /%d but not all of %s gets list %d", tt.n, a, s, p, list)
				}
				if wider := netip.PrefixFrom(a, s-1).Masked(); s > 0 && sameEverywhere(orig, 9, wider, int32(list)) {
					t.Fatalf("%d nets: %s scope /%d, but all of %s gets list %d", tt.n, a, s, wider, list)
				}
			}
		}
	}
}

// TestTableEmbeddedIPv4: IPv6 clients of the spaces that embed an IPv4
// address get that address's list, rules for IPv6 networks over those
// spaces notwithstanding, and the scope property holds for them and for
// their IPv6 neighbours: every address inside the /scope gets the same
// list.
func TestTableEmbeddedIPv4(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	around := []string{"::/0", "::/64", "::/95", "2000::/3", "2001::/16", "2001::/31", "2002::/15", "2002:a00::/24", "2001:0:4136::/48"}
	for round := range 100 {
		items := randomItems(r, true)
		for _, s := range around {
			if r.IntN(2) == 0 {
				items = append(items, newItem(netip.MustParsePrefix(s), true, int32(r.IntN(4))))
			}
		}
		orig := append([]item(nil), items...)
		m := newMap(build(items, 9))
		for range 200 {
			a := randomEmbedding(r)
			list, s := m.Lookup(a)
			if l, _ := m.Lookup(a); l != list {
				t.Fatalf("%s: List %d, Lookup %d", a, l, list)
			}
			if want := naiveEmbedded(orig, 9, a); int32(list) != want {
				t.Fatalf("round %d: %s gets list %d, want %d", round, a, list, want)
			}
			p := netip.PrefixFrom(a, s).Masked()
			for k := range 40 {
				b := randomIn(r, p)
				if k%2 == 1 { // an address of a space inside p, if any
					sp := spaces[r.IntN(len(spaces))]
					if !p.Overlaps(sp.prefix) {
						continue
					}
					b = randomIn(r, sp.prefix)
					if sp.prefix.Bits() < p.Bits() {
						b = randomIn(r, p)
					}
				}
				if got := naiveEmbedded(orig, 9, b); got != int32(list) {
					t.Fatalf("round %d: %s has scope /%d but %s in %s gets list %d, not %d", round, a, s, b, p, got, list)
				}
			}
		}
	}
}

// randomEmbedding is an IPv6 address in or next to a space that embeds
// an IPv4 address, that address (if any) in 10.0.0.0/14, where the
// random items lie.
func randomEmbedding(r *rand.Rand) netip.Addr {
	v4 := randomAddr(r, true).As4()
	var b [16]byte
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	switch r.IntN(7) {
	case 0: // v4-mapped
		return netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: v4[0], 13: v4[1], 14: v4[2], 15: v4[3]})
	case 1: // v4-compatible
		return netip.AddrFrom16([16]byte{12: v4[0], 13: v4[1], 14: v4[2], 15: v4[3]})
	case 2: // 6to4
		b[0], b[1], b[2], b[3], b[4], b[5] = 0x20, 0x02, v4[0], v4[1], v4[2], v4[3]
	case 3: // Teredo
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0, 0
		b[12], b[13], b[14], b[15] = ^v4[0], ^v4[1], ^v4[2], ^v4[3]
	case 4: // next to 6to4 and Teredo
		b[0], b[1], b[2], b[3] = 0x20, byte(r.IntN(4)), 0, byte(r.IntN(2))
	case 5: // next to ::/96
		b = [16]byte{9: byte(r.IntN(2)), 10: byte(r.IntN(2)), 11: byte(r.IntN(256)), 12: v4[0], 13: v4[1], 14: v4[2], 15: v4[3]}
	}
	return netip.AddrFrom16(b)
}

// naiveEmbedded is naive, IPv6 addresses that embed an IPv4 one located
// by that one.
func naiveEmbedded(items []item, dflt int32, a netip.Addr) int32 {
	if v4, _, ok := Embedded(a); ok {
		a = v4
	}
	return naive(items, dflt, a)
}
