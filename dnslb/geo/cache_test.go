package geo

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
)

// tableAnswer is the table's answer to a, without the cache.
func tableAnswer(m *Map, a netip.Addr) (int, int) {
	if a.Is4() {
		l, s := m.t4.lookup(v4Key(a))
		return int(l), s
	}
	k := addrKey(a)
	if sp := embeds(k); sp != nil {
		l, s := m.t4.lookup(sp.v4(k))
		if s == 0 {
			return int(l), sp.bits
		}
		return int(l), sp.at + s
	}
	i := m.t.find(k)
	first, last := m.t.bounds(i)
	return int(m.t.list[i]), scope(k, first, last)
}

// inverse6 is the inverse of mul6 modulo 2^56 (Newton's iteration: each
// step doubles the bits that are right).
func inverse6() uint64 {
	x := uint64(mul6)
	for range 6 {
		x *= 2 - mul6*x
	}
	return x & (1<<56 - 1)
}

// TestCache: answers through the cache equal the table's, whether the
// cache is cold, warm or filled by several goroutines at once (run with
// -race), for IPv4 and IPv6 clients; and every entry kept names its key
// (the set and the tag give the address back) and holds the table's
// answer to it.
func TestCache(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	items := randomItems(r, true)
	items = append(items, randomItems(r, false)...)
	for range 400 {
		a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
		items = append(items, newItem(netip.PrefixFrom(a, 20+r.IntN(13)), true, int32(r.IntN(6))))
	}
	m := newMap(build(items, 9))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 11))
			for range 5000 {
				a := randomAddr(r, r.IntN(2) == 0)
				wl, ws := tableAnswer(m, a)
				for range 2 { // cold, then (mostly) from the cache
					if l, s := m.Lookup(a); l != wl || s != ws {
						t.Errorf("%s: list %d scope %d, the table says %d scope %d", a, l, s, wl, ws)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	inv := inverse6()
	kept4, kept6 := 0, 0
	for i := range m.c {
		for w := range m.c[i] {
			e := m.c[i][w].Load()
			if e&cacheValid == 0 {
				continue
			}
			tag := e &^ cacheValid >> tagShift
			var a netip.Addr
			if tag&tag4 != 0 {
				kept4++
				a4 := uint32(tag)
				a = netip.AddrFrom4([4]byte{byte(a4 >> 24), byte(a4 >> 16), byte(a4 >> 8), byte(a4)})
				if set, want := m.c.slot4(a4); set != &m.c[i] || want>>tagShift != e>>tagShift {
					t.Fatalf("entry %x of set %d is not where %s goes", e, i, a)
				}
			} else {
				kept6++
				h := uint64(i)<<(56-cacheSetBits) | tag
				hi := (h * inv & (1<<56 - 1)) << 8 // the /56
				a = keyAddr(u128{hi: hi})
				if set, want := m.c.slot6(hi); set != &m.c[i] || want>>tagShift != e>>tagShift {
					t.Fatalf("entry %x of set %d is not where %s goes", e, i, a)
				}
			}
			l, s := tableAnswer(m, a)
			if uint64(l) != e>>6&(cacheLists-1) || uint64(s) != e&(cacheScopes-1) {
				t.Fatalf("entry of %s: list %d scope %d; the table says list %d scope %d", a, e>>6&(cacheLists-1), e&(cacheScopes-1), l, s)
			}
		}
	}
	if kept4 < 3000 || kept6 < 3000 {
		t.Errorf("%d IPv4 and %d IPv6 entries kept", kept4, kept6)
	}
}

// TestCacheSet: four clients whose addresses share a set are all kept
// (with sets of two they evicted each other on every turn), and a fifth
// takes the place of one of them.
func TestCacheSet(t *testing.T) {
	items := []item{newItem(netip.MustParsePrefix("10.0.0.0/8"), true, 1), newItem(netip.MustParsePrefix("10.128.0.0/9"), true, 2)}
	m := newMap(build(items, 0))
	var same []uint32 // /24s of 10.0.0.0/8 in set 0
	for a := uint32(10 << 24); len(same) < cacheWays+1; a += 1 << 8 {
		if set, _ := m.c.slot4(a); set == &m.c[0] {
			same = append(same, a)
		}
	}
	cached := func(a uint32) bool {
		_, want := m.c.slot4(a)
		return m.c[0].get(want) != 0
	}
	for range 3 {
		for _, a := range same[:cacheWays] {
			if l, _ := m.lookup4(a); l != m.t4.list(m.t4.find(a)) {
				t.Fatalf("%08x: list %d", a, l)
			}
		}
	}
	for _, a := range same[:cacheWays] {
		if !cached(a) {
			t.Errorf("%08x is not cached: %d clients of one set evict each other", a, cacheWays)
		}
	}
	m.lookup4(same[cacheWays])
	n := 0
	for _, a := range same {
		if cached(a) {
			n++
		}
	}
	if !cached(same[cacheWays]) || n != cacheWays {
		t.Errorf("after a fifth client of the set: it is cached %v, %d of the five are", cached(same[cacheWays]), n)
	}
}

// TestCache6Scope: an IPv6 answer is kept for its /56 only when it holds
// for the whole /56. Inside a /48, every address of a /56 finds the one
// entry; a /56 that a /60 splits is answered from the table every time,
// each address with its own list and scope.
func TestCache6Scope(t *testing.T) {
	items := []item{
		newItem(netip.MustParsePrefix("2001:db8:1::/48"), true, 1),
		newItem(netip.MustParsePrefix("2001:db8:2:ff10::/60"), true, 2),
	}
	m := newMap(build(items, 0))
	kept := func(a netip.Addr) bool {
		k := addrKey(a)
		set, want := m.c.slot6(k.hi)
		return set.get(want) != 0
	}
	whole := netip.MustParseAddr("2001:db8:1:4200::1")
	if l, s := m.Lookup(whole); l != 1 || s != 48 {
		t.Fatalf("%s: list %d scope %d, want 1 and 48", whole, l, s)
	}
	other := netip.MustParseAddr("2001:db8:1:42ff:1:2:3:4") // same /56
	if !kept(whole) || !kept(other) {
		t.Errorf("the /56 of %s is not kept", whole)
	}
	if l, s := m.Lookup(other); l != 1 || s != 48 {
		t.Errorf("%s: list %d scope %d, want 1 and 48", other, l, s)
	}
	for _, c := range []struct {
		addr        string
		list, scope int
	}{
		{"2001:db8:2:ff10::", 2, 60},
		{"2001:db8:2:ff00::", 0, 60},
		{"2001:db8:2:ff1f:ffff::", 2, 60},
		{"2001:db8:2:ff20::", 0, 59},
	} {
		a := netip.MustParseAddr(c.addr)
		for range 2 {
			if l, s := m.Lookup(a); l != c.list || s != c.scope {
				t.Errorf("%s: list %d scope %d, want %d and %d", a, l, s, c.list, c.scope)
			}
		}
		if kept(a) {
			t.Errorf("%s: the answer of scope /%d is kept for its /56", a, c.scope)
		}
	}
}

// TestCacheListsBeyond: a list whose index does not fit an entry is
// answered from the table every time, never from a truncated entry.
func TestCacheListsBeyond(t *testing.T) {
	items := []item{
		newItem(netip.MustParsePrefix("10.0.0.0/8"), true, cacheLists+5),
		newItem(netip.MustParsePrefix("2001:db8::/32"), true, cacheLists+6),
	}
	m := newMap(build(items, 0))
	for _, c := range []struct {
		addr string
		list int
	}{{"10.1.2.0", cacheLists + 5}, {"2001:db8:1::", cacheLists + 6}} {
		a := netip.MustParseAddr(c.addr)
		for range 2 {
			if l, _ := m.Lookup(a); l != c.list {
				t.Errorf("%s: list %d, want %d", a, l, c.list)
			}
		}
	}
	// A list's bits past the entry's would run into the tag: another
	// address could then find the entry.
	for i := range m.c {
		for w := range m.c[i] {
			if e := m.c[i][w].Load(); e != 0 {
				t.Fatalf("set %d keeps %x", i, e)
			}
		}
	}
}
