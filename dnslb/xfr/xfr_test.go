package xfr

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
)

func TestSerialArithmetic(t *testing.T) {
	for _, tc := range []struct {
		a, b uint32
		want bool
	}{
		{2, 1, true}, {1, 2, false}, {1, 1, false}, {0, 0xffffffff, true}, {0xffffffff, 0, false},
		{1 << 31, 0, false}, {0, 1 << 31, false}, // half the space apart: incomparable
		{1<<31 - 1, 0, true}, {5, 0xfffffff0, true},
	} {
		if got := Greater(tc.a, tc.b); got != tc.want {
			t.Errorf("Greater(%d, %d) = %v", tc.a, tc.b, got)
		}
	}
	for _, tc := range []struct{ cur, floor, want uint32 }{
		{1, 0, 2}, {0xffffffff, 0, 0}, {10, 100, 100}, {10, 11, 11}, {10, 5, 11}, {0xfffffffe, 3, 3},
	} {
		if got := Next(tc.cur, tc.floor); got != tc.want {
			t.Errorf("Next(%d, %d) = %d, want %d", tc.cur, tc.floor, got, tc.want)
		}
	}
}

func TestSerialFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "z.serial")
	if _, ok, err := ReadSerial(p); ok || err != nil {
		t.Fatalf("missing file: ok %v err %v", ok, err)
	}
	for _, s := range []uint32{1, 0xffffffff, 7} {
		if err := WriteSerial(p, s); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := ReadSerial(p); !ok || err != nil || got != s {
			t.Fatalf("read %d %v %v, wrote %d", got, ok, err, s)
		}
	}
	if err := os.WriteFile(p, []byte("4294967296\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadSerial(p); err == nil {
		t.Error("a serial above 2^32-1 read")
	}
	if err := WriteSerial(filepath.Join(p, "x"), 1); err == nil {
		t.Error("writing below a file succeeded")
	}
	if m, _ := filepath.Glob(p + ".tmp*"); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func rr(s string) dns.RR {
	r, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return r
}

func step(from, to uint32, n int) Diff {
	d := Diff{From: from, To: to}
	for range n {
		d.Add = append(d.Add, rr("x. 60 IN A 192.0.2.1"))
	}
	return d
}

func TestHistory(t *testing.T) {
	var h *History
	if _, ok := h.Since(1); ok {
		t.Fatal("empty history reaches back")
	}
	h = h.With(step(1, 2, 1)).With(step(2, 3, 1))
	if s, ok := h.Since(1); !ok || len(s) != 2 {
		t.Fatalf("since 1: %d %v", len(s), ok)
	}
	if s, ok := h.Since(3); !ok || len(s) != 0 {
		t.Fatalf("since the latest: %d %v", len(s), ok)
	}
	if _, ok := h.Since(0); ok {
		t.Fatal("reaches before its start")
	}
	// A step that does not chain starts anew; the old history is intact.
	g := h.With(step(7, 8, 1))
	if _, ok := g.Since(1); ok || g.Len() != 1 || h.Len() != 2 {
		t.Fatalf("broken chain kept: %d %d", g.Len(), h.Len())
	}
	// Bounded by steps and by records.
	for i := uint32(3); i < 3+MaxDiffs+10; i++ {
		h = h.With(step(i, i+1, 1))
	}
	if h.Len() != MaxDiffs {
		t.Fatalf("%d steps kept, max %d", h.Len(), MaxDiffs)
	}
	if _, ok := h.Since(1); ok {
		t.Fatal("dropped step still served")
	}
	h = h.With(step(3+MaxDiffs+10, 3+MaxDiffs+11, MaxRecords))
	if h.Len() != 1 {
		t.Fatalf("%d steps kept beside %d records", h.Len(), MaxRecords)
	}
}

func TestChanges(t *testing.T) {
	old := []dns.RR{rr("a. 60 IN A 192.0.2.1"), rr("a. 60 IN A 192.0.2.2"), rr("b. 60 IN TXT \"x\"")}
	new := []dns.RR{rr("a. 60 IN A 192.0.2.2"), rr("b. 30 IN TXT \"x\""), rr("c. 60 IN A 192.0.2.3")}
	del, add := Changes(old, new)
	if len(del) != 2 || del[0].String() != old[0].String() || del[1].String() != old[2].String() {
		t.Errorf("del %v", del)
	}
	if len(add) != 2 || add[0].String() != new[1].String() || add[1].String() != new[2].String() {
		t.Errorf("add %v", add)
	}
	if d, a := Changes(old, old); len(d)+len(a) != 0 {
		t.Errorf("no change gave %v %v", d, a)
	}
}
