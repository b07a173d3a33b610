package dnslb

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/journal"
)

// TestUpdateJournalCompaction: with a small bound the journal of a zone
// taking many updates is folded into one entry as it grows, instead of
// keeping one entry per update; what is served is the same before and
// after a restart that replays the compacted journal.
func TestUpdateJournalCompaction(t *testing.T) {
	dir, cfg := updateFixture(t)
	const bound = 2048
	ts := start(t, cfg, Options{JournalCompactSize: bound})
	c := &dns.Client{TsigSecret: map[string]string{"acme.": acmeSecret}, Timeout: 3 * time.Second, Net: "tcp"}
	send := func(m *dns.Msg) {
		t.Helper()
		m.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
		r, _, err := c.Exchange(m, ts.addr)
		if err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("update: %v %v", err, r)
		}
	}
	name := func(i int) string { return fmt.Sprintf("_acme-challenge.h%d.%s", i%7, updZone) }
	const updates = 60
	for i := range updates {
		if i%3 == 2 {
			send(delTXT(name(i)))
		} else {
			send(addTXT(name(i), fmt.Sprintf("token-%d", i)))
		}
	}
	serial := ts.serial(t)
	served := map[string][]string{}
	for i := range 7 {
		got := ts.txt(t, "udp", name(i))
		slices.Sort(got)
		served[name(i)] = got
	}
	path := filepath.Join(dir, updJournalIn, "lb.jnl")
	j, c2, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.Entries) >= updates/2 || j.Size() > 4*bound {
		t.Fatalf("journal of %d updates holds %d entries, %d bytes: not compacted", updates, len(c2.Entries), j.Size())
	}
	if c2.Entries[0].From != 100 || c2.Entries[len(c2.Entries)-1].To != serial {
		t.Fatalf("journal spans %d..%d, want 100..%d", c2.Entries[0].From, c2.Entries[len(c2.Entries)-1].To, serial)
	}
	if !strings.Contains(ts.logs.String(), "journal compacted") {
		t.Fatal("no log line for the compaction")
	}
	ts.stop()
	ts = start(t, cfg, Options{JournalCompactSize: bound})
	if got := ts.serial(t); got != serial {
		t.Fatalf("after restart serial %d, want %d", got, serial)
	}
	for i := range 7 {
		got := ts.txt(t, "tcp", name(i))
		slices.Sort(got)
		if !slices.Equal(got, served[name(i)]) {
			t.Fatalf("after restart %s = %v, want %v", name(i), got, served[name(i)])
		}
	}
	if got := ts.txt(t, "udp", "static."+updZone); len(got) != 1 || got[0] != "kept" {
		t.Fatalf("a record of the zone file: %v", got)
	}
}
