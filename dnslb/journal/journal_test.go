package journal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func entry(t testing.TB, from, to uint32, txt string) *Entry {
	return &Entry{
		From: from, To: to, Time: time.Unix(1700000000, 0).UTC(), Key: "acme.",
		Del: []dns.RR{rr(t, "lb.example. 3600 IN SOA ns1.lb.example. h.lb.example. "+itoa(from)+" 3600 600 604800 300")},
		Add: []dns.RR{
			rr(t, "lb.example. 3600 IN SOA ns1.lb.example. h.lb.example. "+itoa(to)+" 3600 600 604800 300"),
			rr(t, `_acme-challenge.lb.example. 60 IN TXT "`+txt+`"`),
		},
	}
}

func itoa(n uint32) string { return dns.Fqdn("x")[:0] + uintString(n) }

func uintString(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestAppendOpenRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.jnl")
	j, c, err := Open(path)
	if err != nil || len(c.Entries) != 0 || c.Size != 0 {
		t.Fatalf("empty journal: %v %+v", err, c)
	}
	for i := uint32(1); i <= 3; i++ {
		if err := j.Append(entry(t, i, i+1, "t"+uintString(i))); err != nil {
			t.Fatal(err)
		}
	}
	_, c, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Entries) != 3 || c.Torn != 0 {
		t.Fatalf("got %d entries, torn %d", len(c.Entries), c.Torn)
	}
	e := c.Entries[2]
	want := entry(t, 3, 4, "t3")
	if e.From != 3 || e.To != 4 || e.Key != "acme." || !e.Time.Equal(want.Time) || len(e.Del) != 1 || len(e.Add) != 2 || e.Add[1].String() != want.Add[1].String() {
		t.Fatalf("entry 3 = %+v", e)
	}
}

// A crash in the middle of an append leaves part of the last entry: it
// was never acknowledged, so it is dropped, and the next append cuts it
// off instead of writing after it.
func TestTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.jnl")
	j, _, _ := Open(path)
	if err := j.Append(entry(t, 1, 2, "a")); err != nil {
		t.Fatal(err)
	}
	whole, _ := os.ReadFile(path)
	rec, _ := entry(t, 2, 3, "b").Marshal()
	for cut := 1; cut < len(rec); cut += 7 {
		if err := os.WriteFile(path, append(append([]byte{}, whole...), rec[:cut]...), 0o644); err != nil {
			t.Fatal(err)
		}
		j, c, err := Open(path)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if len(c.Entries) != 1 || c.Torn != int64(cut) || c.Size != int64(len(whole)) {
			t.Fatalf("cut at %d: %d entries, torn %d, size %d", cut, len(c.Entries), c.Torn, c.Size)
		}
		if err := j.Append(entry(t, 2, 3, "c")); err != nil {
			t.Fatal(err)
		}
		_, c, err = Open(path)
		if err != nil || len(c.Entries) != 2 || c.Torn != 0 || c.Entries[1].Add[1].(*dns.TXT).Txt[0] != "c" {
			t.Fatalf("cut at %d, after append: %v %+v", cut, err, c)
		}
	}
}

// Damage before the last entry is an error that names the entry: reading
// on would silently lose acknowledged updates.
func TestDamageIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.jnl")
	j, _, _ := Open(path)
	for i := uint32(1); i <= 3; i++ {
		if err := j.Append(entry(t, i, i+1, "x")); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	first, _ := entry(t, 1, 2, "x").Marshal()
	for _, tc := range []struct {
		name string
		at   int
	}{
		{"payload of entry 2", len(Magic) + len(first) + 20},
		{"length of entry 1", len(Magic) + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := append([]byte{}, b...)
			bad[tc.at] ^= 0xff
			_, err := Decode(bad)
			var de *DamageError
			if !errors.As(err, &de) {
				t.Fatalf("Decode = %v, want a DamageError", err)
			}
		})
	}
	// Entries that do not follow each other (a spliced file) are damage too.
	j2, _, _ := Open(filepath.Join(t.TempDir(), "y.jnl"))
	_ = j2.Append(entry(t, 1, 2, "x"))
	_ = j2.Append(entry(t, 5, 6, "x"))
	if _, _, err := Open(j2.Path()); err == nil {
		t.Fatal("a gap between serials was accepted")
	}
	if _, _, err := Open("/dev/zero"); err == nil {
		t.Fatal("a device was read as a journal")
	}
	if _, err := Decode([]byte("not a journal at all")); err == nil {
		t.Fatal("bad magic accepted")
	}
}

// An append that cannot be written leaves the journal as it was: here the
// file is /dev/full, where every write fails with ENOSPC even for root.
func TestAppendFailsCleanly(t *testing.T) {
	j := &Journal{path: "/dev/full"}
	if err := j.Append(entry(t, 1, 2, "x")); err == nil {
		t.Fatal("append to /dev/full succeeded")
	}
	if j.size != 0 {
		t.Fatalf("size moved to %d after a failed append", j.size)
	}
	// A folder that is a file: ENOTDIR, as root too.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	j = &Journal{path: filepath.Join(dir, "file", "z.jnl")}
	if err := j.Append(entry(t, 1, 2, "x")); err == nil {
		t.Fatal("append below a file succeeded")
	}
}

func TestClear(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.jnl")
	j, _, _ := Open(path)
	_ = j.Append(entry(t, 1, 2, "x"))
	if err := Clear(path); err != nil {
		t.Fatal(err)
	}
	if _, c, err := Open(path); err != nil || len(c.Entries) != 0 {
		t.Fatalf("after Clear: %v %+v", err, c)
	}
	if err := Clear(path); err != nil {
		t.Fatalf("clearing a missing journal: %v", err)
	}
}

// Another writer's entries are never cut off: an append over a journal
// that grew behind this one's back fails and leaves them.
func TestAppendKeepsForeignEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.jnl")
	j1, _, _ := Open(path)
	if err := j1.Append(entry(t, 1, 2, "a")); err != nil {
		t.Fatal(err)
	}
	j2, _, _ := Open(path) // a second process reads the journal
	if err := j1.Append(entry(t, 2, 3, "b")); err != nil {
		t.Fatal(err)
	}
	if err := j2.Append(entry(t, 2, 3, "c")); err == nil {
		t.Fatal("a stale journal appended over another's entry")
	}
	_, c, err := Open(path)
	if err != nil || len(c.Entries) != 2 || c.Entries[1].Add[1].(*dns.TXT).Txt[0] != "b" {
		t.Fatalf("the other writer's entry is gone: %v %+v", err, c)
	}
}
