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
		e := m.c4[i].Load()
		if e&cacheValid == 0 {
			continue
		}
		kept++
		a := uint32(e >> 30)
		if l, s := m.t4.lookup(a); uint64(l) != e>>6&(maxLists4-1) || uint64(s) != e&0x3f {
			t.Fatalf("cached %08x: the table says list %d scope %d, the entry %d scope %d", a, l, s, e>>6&(maxLists4-1), e&0x3f)
		}
	}
	if kept < 3000 {
		t.Errorf("%d entries kept", kept)
	}
}
