package dnslb

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/dnslb/journal"
	"github.com/dnslb/dnslb/dnslb/update"
	"github.com/dnslb/dnslb/zones"
)

// zoneUpdates is the run-time side of a zone that takes updates: its rules
// and its journal. It is made with each snapshot build and shared by the
// snapshots updates derive from it; updates and reloads take turns
// (the Server.reloading slot), so it is never used by two at once.
type zoneUpdates struct {
	policy  update.Policy
	journal *journal.Journal
	// stale: the journal was made over another serial of the zone file and
	// was not replayed; the first update sets it aside before appending.
	stale bool
	// base is the zone file as loaded, before the journal: what a
	// compacted journal must replay over to give the zone served.
	base *zones.Zone
	// net is the journal's entries merged: what updates changed in the
	// zone file (nil: nothing). Cluster instances compare it (drift).
	net *journal.Entry
}

// replayJournal applies z's journal to z, the zone file as loaded. The
// journal is replayed when it starts at the file's serial; when the
// operator has moved the file's serial, the file wins and the journal is
// set aside at the next update (README: "Journal and zone file").
func (s *snapshot) replayJournal(z *zones.Zone, zc *config.Zone) (*zones.Zone, error) {
	j, c, err := journal.Open(zc.Journal)
	if err != nil {
		return nil, fmt.Errorf("zone %s: %w", z.Origin, err)
	}
	zu := &zoneUpdates{policy: zc.Update, journal: j, base: z}
	s.updates[z.Origin] = zu
	if c.Torn > 0 {
		s.warnings = append(s.warnings, fmt.Sprintf("zone %s: journal %s ends with %d bytes of an update that was never acknowledged (a crash while writing it); they are dropped", z.Origin, zc.Journal, c.Torn))
	}
	if len(c.Entries) == 0 {
		return z, nil
	}
	first, last := c.Entries[0], c.Entries[len(c.Entries)-1]
	if first.From != z.SOA.Serial {
		zu.stale = true
		msg := fmt.Sprintf("zone %s: the zone file's serial is %d but journal %s was kept over serial %d: the file is served without the journal's %d updates, and the journal will be renamed %s.old at the next update", z.Origin, z.SOA.Serial, zc.Journal, first.From, len(c.Entries), zc.Journal)
		if !update.SerialGreater(z.SOA.Serial, last.To) {
			msg += fmt.Sprintf("; the file's serial is not above the journal's last (%d): secondaries will not see the change until it is", last.To)
		}
		s.warnings = append(s.warnings, msg)
		return z, nil
	}
	diffs := make([][2][]dns.RR, len(c.Entries))
	for i, e := range c.Entries {
		diffs[i] = [2][]dns.RR{e.Del, e.Add}
	}
	nz, err := update.Replay(z, diffs...)
	if err != nil {
		return nil, fmt.Errorf("zone %s: replaying journal %s over the zone file: %w; fix the file, or clear the journal (dnslb -clear-journal %s)", z.Origin, zc.Journal, err, z.Origin)
	}
	if zu.net, err = journal.Merge(c.Entries); err != nil {
		s.warnings = append(s.warnings, fmt.Sprintf("zone %s: journal %s: %v; cluster peers cannot compare its updates", z.Origin, zc.Journal, err))
	}
	if nz.SOA.Serial != last.To {
		return nil, fmt.Errorf("zone %s: journal %s ends at serial %d but replaying it gives %d", z.Origin, zc.Journal, last.To, nz.SOA.Serial)
	}
	return nz, nil
}

// record journals e: fsynced before it returns.
func (zu *zoneUpdates) record(e *journal.Entry) error {
	if zu.stale {
		p := zu.journal.Path()
		if err := os.Rename(p, p+".old"); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("journal: setting aside %s: %w", p, err)
		}
		j, _, err := journal.Open(p)
		if err != nil {
			return err
		}
		zu.journal, zu.stale, zu.net = j, false, nil
	}
	if err := zu.journal.Append(e); err != nil {
		return err
	}
	if zu.net == nil {
		zu.net = e
	} else if m, err := journal.Merge([]*journal.Entry{zu.net, e}); err == nil {
		zu.net = m
	}
	return nil
}

// updatesDigest sums what updates changed in every zone, the SOA aside
// (each instance's serial moves with its own health view): instances of a
// cluster that took different updates differ. "" when no update changed
// anything.
func (s *snapshot) updatesDigest() string {
	var origins []string
	for o, zu := range s.updates {
		if zu.net != nil {
			origins = append(origins, o)
		}
	}
	slices.Sort(origins)
	var lines []string
	for _, o := range origins {
		net := s.updates[o].net
		for i, rrs := range [2][]dns.RR{net.Del, net.Add} {
			for _, rr := range rrs {
				if rr.Header().Rrtype != dns.TypeSOA {
					lines = append(lines, o+" "+"-+"[i:i+1]+" "+rr.String())
				}
			}
		}
	}
	if len(lines) == 0 {
		return ""
	}
	slices.Sort(lines)
	h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(h[:])
}

// compact folds the journal into one entry once it has grown past limit
// bytes (and twice what the last compaction left). z is the zone served
// after the journal's last entry. The merged entry is checked before it is
// written: replayed over the zone file it must give z at every name the
// journal touched, else the journal is left as it is. It returns the
// entries folded (0: nothing done) and the sizes before and after.
func (zu *zoneUpdates) compact(z *zones.Zone, limit int64) (n int, before, after int64, err error) {
	if zu.stale || !zu.journal.Grown(limit) {
		return 0, 0, 0, nil
	}
	before = zu.journal.Size()
	_, c, err := journal.Open(zu.journal.Path())
	if err != nil {
		return 0, before, before, err
	}
	if c.Size != before {
		return 0, before, before, fmt.Errorf("journal: %s holds %d bytes, %d were written here: another process wrote it", zu.journal.Path(), c.Size, before)
	}
	if len(c.Entries) < 2 {
		return 0, before, before, nil
	}
	m, err := journal.Merge(c.Entries)
	if err != nil {
		return 0, before, before, err
	}
	if m.From != zu.base.SOA.Serial || m.To != z.SOA.Serial {
		return 0, before, before, fmt.Errorf("journal: %s goes from serial %d to %d, the zone file has %d and the zone served %d", zu.journal.Path(), m.From, m.To, zu.base.SOA.Serial, z.SOA.Serial)
	}
	got, err := update.Replay(zu.base, [2][]dns.RR{m.Del, m.Add})
	if err != nil {
		return 0, before, before, fmt.Errorf("journal: the merged entry does not replay: %w", err)
	}
	touched := map[string]bool{}
	for _, e := range c.Entries {
		for _, rr := range append(e.Del[:len(e.Del):len(e.Del)], e.Add...) {
			touched[dns.CanonicalName(rr.Header().Name)] = true
		}
	}
	for name := range touched {
		if !sameRecords(got.Node(name), z.Node(name)) {
			return 0, before, before, fmt.Errorf("journal: the merged entry replays to other records at %s than the zone served", name)
		}
	}
	if err := zu.journal.Compact(m); err != nil {
		return 0, before, zu.journal.Size(), err
	}
	return len(c.Entries), before, zu.journal.Size(), nil
}

// sameRecords reports whether two nodes hold the same static records
// (nil: no node).
func sameRecords(a, b *zones.Node) bool {
	if a == nil || b == nil {
		return (a == nil || len(a.Types()) == 0) && (b == nil || len(b.Types()) == 0)
	}
	ta, tb := a.Types(), b.Types()
	if len(ta) != len(tb) {
		return false
	}
	for _, t := range ta {
		x, y := a.RRset(t), b.RRset(t)
		if len(x) != len(y) {
			return false
		}
		for _, r := range x {
			if !slices.ContainsFunc(y, func(s dns.RR) bool { return dns.IsDuplicate(r, s) && r.Header().Ttl == s.Header().Ttl }) {
				return false
			}
		}
	}
	return true
}

// withZone returns a copy of s serving z in place of the zone of the same
// origin, with an empty answer cache: nothing answered from the old zone
// can be served from the new snapshot.
func (s *snapshot) withZone(z *zones.Zone) (*snapshot, error) {
	n := *s
	list := append([]*zones.Zone(nil), s.zones.Zones()...)
	for i, old := range list {
		if old.Origin == z.Origin {
			list[i] = z
		}
	}
	set, err := zones.NewSet(list...)
	if err != nil {
		return nil, err
	}
	n.zones, n.cache, n.warnings = set, newAnswerCache(s.cacheSize), nil
	// The synthesized answers' pieces follow the zone: the replaced one's
	// go, the new one's are made now.
	zs, err := buildSynth(z)
	if err != nil {
		return nil, err
	}
	n.synth = make(map[*zones.Zone]*zoneSynth, len(s.synth))
	for old, p := range s.synth {
		if old.Origin == z.Origin {
			zs.slot, zs.signed = p.slot, zs.signed || p.signed
		} else {
			n.synth[old] = p
		}
	}
	n.synth[z] = zs
	return &n, nil
}

// compactJournal compacts zu's journal when it is due (z: the zone served
// now). A failure is logged and changes nothing that was acknowledged: the
// journal keeps growing until a compaction succeeds.
func (s *Server) compactJournal(zu *zoneUpdates, z *zones.Zone) {
	limit := s.opts.JournalCompactSize
	if limit <= 0 {
		limit = journal.DefaultCompactSize
	}
	n, before, after, err := zu.compact(z, limit)
	if err != nil {
		s.log.Error("journal not compacted; it keeps every entry", "zone", z.Origin, "journal", zu.journal.Path(), "err", err)
		return
	}
	if n > 0 {
		s.log.Info("journal compacted", "zone", z.Origin, "journal", zu.journal.Path(), "entries", n, "bytes_before", before, "bytes_after", after, "serial", z.SOA.Serial)
	}
}
