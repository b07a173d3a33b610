package journal

import (
	"path/filepath"
	"testing"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// FuzzDecode feeds journal files to the decoder: it must never panic, its
// sizes must account for every byte, and the entries it accepts must
// encode into a journal that decodes again.
func FuzzDecode(f *testing.F) {
	testutil.AddSeeds(f, filepath.Join("..", "..", "testdata", "fuzz", "FuzzJournal"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			return
		}
		if c.Size+c.Torn != int64(len(data)) {
			t.Fatalf("size %d + torn %d != %d bytes", c.Size, c.Torn, len(data))
		}
		if len(c.Entries) == 0 {
			return
		}
		out := []byte(Magic)
		for _, e := range c.Entries {
			b, err := e.Marshal()
			if err != nil {
				t.Fatalf("decoded entry does not encode: %v", err)
			}
			out = append(out, b...)
		}
		if _, err := Decode(out); err != nil {
			t.Fatalf("re-encoded journal does not decode: %v", err)
		}
		// What compaction would write decodes to one entry spanning them.
		m, err := Merge(c.Entries)
		if err != nil {
			return
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatalf("merged entry does not encode: %v", err)
		}
		mc, err := Decode(append([]byte(Magic), b...))
		if err != nil || len(mc.Entries) != 1 || mc.Entries[0].From != c.Entries[0].From || mc.Entries[0].To != c.Entries[len(c.Entries)-1].To {
			t.Fatalf("merged entry decodes to %+v, %v", mc, err)
		}
	})
}
