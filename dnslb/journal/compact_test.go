package journal

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/update"
	"github.com/dnslb/dnslb/zones"
)

const origin = "lb.example."

func baseZone(t *testing.T) *zones.Zone {
	t.Helper()
	b := zones.NewBuilder(origin)
	for _, s := range []string{
		"@ 3600 IN SOA ns1 h 10 3600 600 604800 300", "@ 3600 IN NS ns1", "ns1 IN A 192.0.2.1",
		`_acme-challenge 60 IN TXT "file"`, "app 300 IN A 192.0.2.10", "app 300 IN A 192.0.2.11",
	} {
		b.AddText(s, zones.Pos{})
	}
	z, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// dump lists z's records, sorted: the order within an RRset is not
// the zone's content.
func dump(z *zones.Zone) string {
	var lines []string
	for _, name := range z.Names() {
		n := z.Node(name)
		for _, ty := range n.Types() {
			for _, rr := range n.RRset(ty) {
				lines = append(lines, rr.String())
			}
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// randomUpdates applies n random updates to z (adds, deletes, TTL
// changes, records removed and added back), returning the entries an
// update server journals and the zone after them.
func randomUpdates(t *testing.T, z *zones.Zone, n int, seed uint64) ([]*Entry, *zones.Zone) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 1))
	policy := update.Policy{{Key: "k.", Names: []string{"*." + origin}, Types: []uint16{dns.TypeA, dns.TypeTXT}}}
	names := []string{"_acme-challenge", "app", "x.app", "y"}
	var out []*Entry
	for len(out) < n {
		m := new(dns.Msg)
		m.SetUpdate(origin)
		name := names[rnd.IntN(len(names))] + "." + origin
		rec := func() dns.RR {
			if rnd.IntN(2) == 0 {
				r, _ := dns.NewRR(fmt.Sprintf("%s %d IN A 192.0.2.%d", name, 60*(1+rnd.IntN(3)), 10+rnd.IntN(4)))
				return r
			}
			r, _ := dns.NewRR(fmt.Sprintf(`%s %d IN TXT "v%d"`, name, 60*(1+rnd.IntN(3)), rnd.IntN(4)))
			return r
		}
		switch rnd.IntN(4) {
		case 0, 1:
			m.Insert([]dns.RR{rec()})
		case 2:
			m.Remove([]dns.RR{rec()})
		default:
			m.RemoveRRset([]dns.RR{rec()})
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		var w dns.Msg
		if err := w.Unpack(b); err != nil {
			t.Fatal(err)
		}
		res := update.Apply(z, &w, "k.", policy)
		if res.Rcode != dns.RcodeSuccess {
			t.Fatalf("update %d: %s: %s", len(out), dns.RcodeToString[res.Rcode], res.Reason)
		}
		if res.Zone == nil {
			continue
		}
		out = append(out, &Entry{From: res.From, To: res.To, Key: "k.", Del: res.Del, Add: res.Add})
		z = res.Zone
	}
	return out, z
}

func replay(t *testing.T, z *zones.Zone, es []*Entry) *zones.Zone {
	t.Helper()
	diffs := make([][2][]dns.RR, len(es))
	for i, e := range es {
		diffs[i] = [2][]dns.RR{e.Del, e.Add}
	}
	nz, err := update.Replay(z, diffs...)
	if err != nil {
		t.Fatal(err)
	}
	return nz
}

// Merging the entries of many random updates replays to the same zone as
// the entries one by one, and is smaller.
func TestMergeReplaysToTheSameZone(t *testing.T) {
	for seed := range uint64(30) {
		base := baseZone(t)
		es, final := randomUpdates(t, base, 40, seed)
		m, err := Merge(es)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if m.From != 10 || m.To != final.SOA.Serial {
			t.Fatalf("seed %d: merged %d..%d, want 10..%d", seed, m.From, m.To, final.SOA.Serial)
		}
		if got, want := dump(replay(t, base, []*Entry{m})), dump(final); got != want {
			t.Fatalf("seed %d: merged entry replays to\n%s\nwant\n%s", seed, got, want)
		}
		if got, want := dump(replay(t, base, es)), dump(final); got != want {
			t.Fatalf("seed %d: entries replay to\n%s\nwant\n%s", seed, got, want)
		}
		if len(m.Del)+len(m.Add) > 2+2*12 { // at most every record touched, twice
			t.Fatalf("seed %d: merged entry has %d records", seed, len(m.Del)+len(m.Add))
		}
	}
}

func TestMergeRefuses(t *testing.T) {
	a := entry(t, 1, 2, "a")
	for _, tc := range []struct {
		name string
		es   []*Entry
	}{
		{"none", nil},
		{"gap", []*Entry{a, entry(t, 5, 6, "b")}},
		{"added twice", []*Entry{a, entry(t, 2, 3, "a")}},
		{"no SOA", []*Entry{{From: 1, To: 2}}},
	} {
		if _, err := Merge(tc.es); err == nil {
			t.Errorf("%s: merged", tc.name)
		}
	}
}

// A crash at each step of a compaction leaves a journal that opens and
// replays to the zone served before it; appending then works, and a later
// compaction succeeds over what the crash left.
func TestCompactCrashAtEachStep(t *testing.T) {
	for _, step := range []string{"partial", "written", "synced", "renamed", ""} {
		t.Run("crash after "+step, func(t *testing.T) {
			base := baseZone(t)
			es, final := randomUpdates(t, base, 30, 7)
			path := filepath.Join(t.TempDir(), "z.jnl")
			j, _, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es[:29] {
				if err := j.Append(e); err != nil {
					t.Fatal(err)
				}
			}
			before := j.Size()
			if !j.Grown(before - 1) {
				t.Fatal("a journal above its bound is not due")
			}
			m, err := Merge(es[:29])
			if err != nil {
				t.Fatal(err)
			}
			j.crash = func(s string) bool { return s == step }
			err = j.Compact(m)
			if (err != nil) != (step != "") {
				t.Fatalf("Compact = %v", err)
			}
			_, c, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case step == "partial" || step == "written" || step == "synced":
				if len(c.Entries) != 29 {
					t.Fatalf("crash before the rename: %d entries, want the old 29", len(c.Entries))
				}
			default:
				if len(c.Entries) != 1 || c.Size >= before {
					t.Fatalf("after the rename: %d entries, %d bytes (was %d)", len(c.Entries), c.Size, before)
				}
			}
			// The process restarts over what is on disk and goes on.
			j, c, err = Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Append(es[29]); err != nil {
				t.Fatal(err)
			}
			_, c, err = Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := dump(replay(t, base, c.Entries)), dump(final); got != want {
				t.Fatalf("journal replays to\n%s\nwant\n%s", got, want)
			}
			m, err = Merge(c.Entries)
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Compact(m); err != nil {
				t.Fatal(err)
			}
			_, c, err = Open(path)
			if err != nil || len(c.Entries) != 1 {
				t.Fatalf("after a second compaction: %v, %d entries", err, len(c.Entries))
			}
			if got, want := dump(replay(t, base, c.Entries)), dump(final); got != want {
				t.Fatalf("compacted journal replays to\n%s\nwant\n%s", got, want)
			}
			if _, err := os.Stat(path + ".compact"); err == nil {
				t.Fatal("temporary file left after a compaction")
			}
		})
	}
}

// A compaction never drops entries another process appended after this
// Journal last wrote.
func TestCompactKeepsForeignEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.jnl")
	j1, _, _ := Open(path)
	_ = j1.Append(entry(t, 1, 2, "a"))
	_ = j1.Append(entry(t, 2, 3, "b"))
	j2, c, _ := Open(path)
	_ = j2.Append(entry(t, 3, 4, "c"))
	m, err := Merge(c.Entries)
	if err != nil {
		t.Fatal(err)
	}
	if err := j1.Compact(m); err == nil {
		t.Fatal("compacted over another writer's entry")
	}
	if _, c, err := Open(path); err != nil || len(c.Entries) != 3 {
		t.Fatalf("after a refused compaction: %v %+v", err, c)
	}
}

// BenchmarkReplayCompacted: reading and replaying a journal of 2,000
// random updates, as written and compacted (what a start or reload pays).
func BenchmarkReplayCompacted(b *testing.B) {
	t := &testing.T{}
	base := baseZone(t)
	es, _ := randomUpdates(t, base, 2000, 3)
	m, err := Merge(es)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		es   []*Entry
	}{{"entries", es}, {"compacted", []*Entry{m}}} {
		path := filepath.Join(b.TempDir(), "z.jnl")
		j, _, _ := Open(path)
		for _, e := range tc.es {
			if err := j.Append(e); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				_, c, err := Open(path)
				if err != nil {
					b.Fatal(err)
				}
				diffs := make([][2][]dns.RR, len(c.Entries))
				for i, e := range c.Entries {
					diffs[i] = [2][]dns.RR{e.Del, e.Add}
				}
				if _, err := update.Replay(base, diffs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(j.Size()), "journal-bytes")
		})
	}
}
