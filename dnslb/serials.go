package dnslb

import (
	"cmp"
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/dnslb/journal"
	"github.com/dnslb/dnslb/dnslb/tsig"
	"github.com/dnslb/dnslb/dnslb/update"
	"github.com/dnslb/dnslb/dnslb/xfr"
	"github.com/dnslb/dnslb/zones"
)

// published is a zone as secondaries see it at one serial: the static
// data (its SOA carries the serial), the pooled names' records as they
// stood then, and the steps that led there. Transfers load it once.
type published struct {
	serial  uint32
	zone    *zones.Zone
	pooled  []dns.RR // A/AAAA of pools' eligible members, sorted
	history *xfr.History
}

// xfrZone is the transfer side of one zone that transfers or notifies.
// It outlives snapshots: serials and history survive reloads.
type xfrZone struct {
	pub       atomic.Pointer[published]
	persisted uint32 // serial read from the serial file at start
	hasSaved  bool
	lastBump  time.Time
}

// xfrZones is every xfrZone by origin. Only the serial loop adds to it;
// transfers look zones up (rarely: a lock is fine there).
type xfrZones struct {
	mu sync.Mutex
	m  map[string]*xfrZone
}

func (x *xfrZones) get(origin string) *xfrZone {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.m[origin]
}

// serialPoll is how often the serial loop looks for a health or snapshot
// change. Looking is one atomic load and a pointer compare.
const serialPoll = 50 * time.Millisecond

// runSerials publishes new serials of zones that transfer or notify when
// their data or their pools' eligible members change, and sends NOTIFY.
// A change of pools only is coalesced to one serial per notify_interval.
func (s *Server) runSerials(ctx context.Context) {
	n := xfr.NewNotifier(s.log, func(r string) { s.metrics.notifies.WithLabelValues(r).Inc() })
	defer n.Wait()
	t := time.NewTicker(serialPoll)
	defer t.Stop()
	var lastGen uint64
	var lastSnap *snapshot
	for {
		gen, snap := s.generations().Generation(), s.snap.Load()
		if gen != lastGen || snap != lastSnap {
			if pending := s.syncSerials(ctx, n, time.Now()); !pending {
				lastGen, lastSnap = gen, snap
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// syncSerials brings every transferring zone's published state up to the
// current snapshot and health. It returns whether a change waits for its
// zone's notify_interval.
func (s *Server) syncSerials(ctx context.Context, n *xfr.Notifier, now time.Time) (pending bool) {
	select { // the reload slot: updates and reloads swap zones too, one at a time
	case s.reloading <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	defer func() { <-s.reloading }()
	if s.handedOver.Load() {
		return false
	}
	for i := range s.snap.Load().cfg.Zones {
		snap := s.snap.Load()
		zc := &snap.cfg.Zones[i]
		if zc.SerialFile == "" {
			continue
		}
		if s.syncZone(ctx, n, snap, zc, now) {
			pending = true
		}
	}
	return pending
}

func (s *Server) syncZone(ctx context.Context, n *xfr.Notifier, snap *snapshot, zc *config.Zone, now time.Time) (pending bool) {
	z := snap.zones.Zone(zc.Origin)
	if z == nil {
		return false
	}
	xz := s.xfr.get(zc.Origin)
	if xz == nil {
		xz = &xfrZone{}
		saved, ok, err := xfr.ReadSerial(zc.SerialFile)
		if err != nil {
			s.log.Error("zone serial not restored; starting from the zone's", "zone", zc.Origin, "err", err)
		}
		xz.persisted, xz.hasSaved = saved, ok
		s.xfr.mu.Lock()
		s.xfr.m[zc.Origin] = xz
		s.xfr.mu.Unlock()
	}
	pooled := snap.pooledRecords(zc.Origin, s.clock.now())
	pub := xz.pub.Load()
	next := z.SOA.Serial
	var del, add []dns.RR
	switch {
	case pub == nil:
		// First publication: never below the serial of a previous run
		// (which secondaries may hold), nor below the zone's.
		if xz.hasSaved && !xfr.Greater(next, xz.persisted) {
			next = xz.persisted + 1
		}
	default:
		if z != pub.zone {
			del, add = xfr.Changes(staticRecords(pub.zone), staticRecords(z))
		}
		pdel, padd := xfr.Changes(pub.pooled, pooled)
		del, add = append(del, pdel...), append(add, padd...)
		changed := len(del) > 0 || len(add) > 0
		zoneMoved := xfr.Greater(z.SOA.Serial, pub.serial) // an update, or the file's serial raised
		switch {
		case zoneMoved:
		case changed && now.Sub(xz.lastBump) < zc.NotifyInterval:
			return true // pools only: wait for the interval
		case changed:
			next = xfr.Next(pub.serial, z.SOA.Serial)
		default:
			next = pub.serial // same data; maybe a reload brought back the file's lower serial
		}
		if !changed && !zoneMoved && z.SOA.Serial == pub.serial {
			if z != pub.zone {
				p := *pub
				p.zone = z
				xz.pub.Store(&p)
			}
			return false
		}
	}
	var swap *snapshot // served once published: a secondary that sees the SOA can transfer it
	if z.SOA.Serial != next {
		nz, nsnap, err := s.setSerial(snap, z, next)
		if err != nil {
			s.log.Error("zone serial not raised; retrying", "zone", zc.Origin, "serial", next, "err", err)
			return true
		}
		z, swap = nz, nsnap
	}
	if err := xfr.WriteSerial(zc.SerialFile, next); err != nil {
		s.log.Error("zone serial not kept: after a restart it may go back", "zone", zc.Origin, "serial", next, "err", err)
	}
	np := &published{serial: next, zone: z, pooled: pooled}
	if pub != nil {
		np.history = pub.history
		if next != pub.serial {
			d := xfr.Diff{From: pub.serial, To: next, Del: append([]dns.RR{soaWith(pub.zone.SOA, pub.serial)}, del...), Add: append([]dns.RR{z.SOA}, add...)}
			np.history = pub.history.With(d)
		}
	}
	xz.pub.Store(np)
	if swap != nil {
		s.snap.Store(swap)
	}
	if pub != nil && next == pub.serial {
		return false
	}
	xz.lastBump = now
	s.metrics.serials.WithLabelValues(zc.Origin).Inc()
	s.log.Info("zone serial published", "zone", zc.Origin, "serial", next, "removed", len(del), "added", len(add), "notify", len(zc.Notify))
	if len(zc.Notify) > 0 {
		n.Notify(ctx, zc.Origin, z.SOA, zc.Notify, notifyKey(snap, zc))
	}
	return false
}

// notifyKey returns the key NOTIFY is signed with: the key of the zone's
// first transfer rule that names one (the key its secondaries transfer
// with), or nil to send it unsigned.
func notifyKey(snap *snapshot, zc *config.Zone) *tsig.Key {
	for _, r := range zc.Transfer {
		if r.Key != "" {
			return snap.keyring.Key(r.Key)
		}
	}
	return nil
}

// setSerial returns z with serial instead of its own and the snapshot
// serving it, and journals the step when the zone takes updates, so that
// the journal's serials keep chaining.
func (s *Server) setSerial(snap *snapshot, z *zones.Zone, serial uint32) (*zones.Zone, *snapshot, error) {
	old := z.SOA
	soa := soaWith(old, serial)
	nz, err := update.Replay(z, [2][]dns.RR{{old}, {soa}})
	if err != nil {
		return nil, nil, err
	}
	next, err := snap.withZone(nz)
	if err != nil {
		return nil, nil, err
	}
	if zu := snap.updates[z.Origin]; zu != nil && !zu.stale {
		if err := zu.record(&journal.Entry{From: old.Serial, To: serial, Time: time.Now(), Key: "", Del: []dns.RR{old}, Add: []dns.RR{soa}}); err != nil {
			return nil, nil, err
		}
		s.compactJournal(zu, nz)
	}
	return nz, next, nil
}

func soaWith(soa *dns.SOA, serial uint32) *dns.SOA {
	n := dns.Copy(soa).(*dns.SOA)
	n.Serial = serial
	return n
}

// staticRecords returns z's records but the apex SOA, in no particular
// order (RFC 5936 §2.2 asks none): what the zone holds apart from pools.
func staticRecords(z *zones.Zone) []dns.RR {
	out := make([]dns.RR, 0, z.Len())
	for n := range z.Nodes() {
		for _, t := range n.Types() {
			if t == dns.TypeSOA && n == z.Apex {
				continue
			}
			out = append(out, n.RRset(t)...)
		}
	}
	return out
}

// pooledRecords returns the A/AAAA records the pools of zone origin stand
// for now: every eligible member at the pool's ttl, when_all_down applied
// (serve_all: every member; serve_none: none; a fallback pool's members).
func (s *snapshot) pooledRecords(origin string, now int64) []dns.RR {
	var out []dns.RR
	for _, p := range s.pools {
		if s.cfg.Zones[p.cfg.Zone].Origin != origin {
			continue
		}
		for _, f := range p.families {
			if f == nil {
				continue
			}
			fam := f
			for hops := 0; fam != nil && hops <= 8; hops++ {
				v := fam.currentView(now)
				if !v.allDown || fam.whenAllDown == allDownServeAll {
					for _, i := range v.eligible {
						out = append(out, memberRR(p.name, f.ttl, fam.members[i].addr))
					}
					break
				}
				if fam.whenAllDown != allDownFallback {
					break
				}
				fam = fam.fallback
			}
		}
	}
	slices.SortFunc(out, func(a, b dns.RR) int { return cmp.Compare(a.String(), b.String()) })
	return out
}

func memberRR(name string, ttl uint32, a interface{ AsSlice() []byte }) dns.RR {
	b := a.AsSlice()
	if len(b) == 4 {
		return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.IP(b)}
	}
	return &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: net.IP(b)}
}
