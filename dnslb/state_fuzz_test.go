package dnslb

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzStateFile: whatever the state file holds, reading it never panics,
// every entry it keeps is usable (a known override, an IPv4 address never
// IPv4-mapped, a time either unknown or in range), and a file read without
// problems reads back the same once written.
func FuzzStateFile(f *testing.F) {
	addSeeds(f, "FuzzStateFile")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, problems := parseState(b)
		for _, e := range entries {
			if e.override >= uint32(len(overrideNames)) || e.key.addr.Is4In6() || !e.key.addr.IsValid() || e.key.pool == "" {
				t.Fatalf("unusable entry %+v", e)
			}
		}
		if len(problems) > 0 {
			return
		}
		path := filepath.Join(dir, "s.json")
		os.Remove(path)
		s := newMemberStates()
		if p, err := s.load(path, time.Now()); err != nil || p != nil {
			t.Fatal(p, err)
		}
		want := map[memberKey]storedOverride{}
		for _, e := range entries {
			st := s.getLocked(e.key)
			st.override.Store(e.override)
			st.since.Store(e.since)
			want[e.key] = e
		}
		if err := s.writeLocked(); err != nil {
			t.Fatal(err)
		}
		back, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, problems := parseState(back)
		if len(problems) > 0 {
			t.Fatalf("written file has problems: %q\n%s", problems, back)
		}
		n := 0
		for _, w := range want {
			if w.override != overrideNone {
				n++
			}
		}
		if len(got) != n {
			t.Fatalf("read back %d entries, want %d:\n%s", len(got), n, back)
		}
		for _, g := range got {
			if w := want[g.key]; w.override != g.override || w.since != g.since {
				t.Fatalf("read back %+v, want %+v", g, w)
			}
		}
	})
}
