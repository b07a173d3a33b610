package geo

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
)

// TestCache4: answers through the cache equal the table's, whether the
// cache is cold, warm or filled by several goroutines at once (run with
// -race), and every entry kept is the table's answer to its address.
func TestCache4(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var items []item
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
				a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
				k := v4Key(a)
				wl, ws := m.t4.lookup(k)
				for range 2 { // cold, then (mostly) from the cache
					if l, s := m.Lookup(a); int32(l) != wl || s != ws {
						t.Errorf("%s: list %d scope %d, the table says %d scope %d", a, l, s, wl, ws)
						return
					}
					if l := m.List(a); int32(l) != wl {
						t.Errorf("%s: List %d, the table says %d", a, l, wl)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	kept := 0
	for i := range m.c4 {
		for w := range m.c4[i] {
			e := m.c4[i][w].Load()
			if e&cacheValid == 0 {
				continue
			}
			kept++
			a := uint32(e >> 30)
			if got := uint32(a*0x9e3779b1) >> (32 - cacheSetBits); got != uint32(i) {
				t.Fatalf("cached %08x in set %d, its set is %d", a, i, got)
			}
			if l, s := m.t4.lookup(a); uint64(l) != e>>6&(maxLists4-1) || uint64(s) != e&0x3f {
				t.Fatalf("cached %08x: the table says list %d scope %d, the entry %d scope %d", a, l, s, e>>6&(maxLists4-1), e&0x3f)
			}
		}
	}
	if kept < 3000 {
		t.Errorf("%d entries kept", kept)
	}
}

// TestCache4Set: four clients whose addresses share a set are all kept
// (with sets of two they evicted each other on every turn), and a fifth
// takes the place of one of them.
func TestCache4Set(t *testing.T) {
	items := []item{newItem(netip.MustParsePrefix("10.0.0.0/8"), true, 1), newItem(netip.MustParsePrefix("10.128.0.0/9"), true, 2)}
	m := newMap(build(items, 0))
	var same []uint32 // /24s of 10.0.0.0/8 in set 0
	for a := uint32(10 << 24); len(same) < cacheWays+1; a += 1 << 8 {
		if a*0x9e3779b1>>(32-cacheSetBits) == 0 {
			same = append(same, a)
		}
	}
	cached := func(a uint32) bool {
		for w := range m.c4[0] {
			if e := m.c4[0][w].Load(); e&cacheKey == cacheValid|uint64(a)<<30 {
				return true
			}
		}
		return false
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
