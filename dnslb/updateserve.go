package dnslb

import (
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/journal"
	"github.com/dnslb/dnslb/dnslb/tsig"
	"github.com/dnslb/dnslb/dnslb/update"
)

// maxSeenUpdates bounds the signed updates remembered against replay
// (a few hundred KiB): more than that within one TSIG fudge (300 s by
// default) and the oldest can be replayed.
const maxSeenUpdates = 4096

// update answers an RFC 2136 UPDATE: TSIG first (RFC 8945 §5.2), then the
// zone, the key's rules, and the update itself, built aside, journaled and
// fsynced, then swapped in. It returns the response and its rcode.
func (s *Server) update(snap *snapshot, req []byte, m *dns.Msg, opt *dns.OPT, src netip.AddrPort) (_ []byte, rc int) {
	now := time.Now()
	resp := new(dns.Msg)
	resp.SetReply(m)
	if opt != nil {
		resp.SetEdns0(snap.udpSize, false)
	}
	sig := snap.keyring.Verify(req, m)
	reply := func(rcode int, res string) ([]byte, int) {
		resp.Rcode = rcode
		s.metrics.updates.WithLabelValues(res).Inc()
		if sig == nil {
			out, err := resp.Pack()
			if err != nil {
				return nil, rcode
			}
			return out, rcode
		}
		out, err := tsig.Sign(resp, sig, now)
		if err != nil {
			s.log.Error("cannot sign an update response", "err", err)
			return nil, rcode
		}
		return out, rcode
	}
	if sig != nil && sig.Error != 0 {
		s.log.Warn("update refused: TSIG", "error", dns.RcodeToString[int(sig.Error)], "key", sig.TSIG.Hdr.Name, "client", src.Addr().String())
		return reply(dns.RcodeNotAuth, "notauth")
	}
	if len(m.Question) != 1 || m.Question[0].Qtype != dns.TypeSOA || m.Question[0].Qclass != dns.ClassINET {
		return reply(dns.RcodeFormatError, "formerr")
	}
	origin := dns.CanonicalName(m.Question[0].Name)
	if snap.zones.Zone(origin) == nil {
		return reply(dns.RcodeNotAuth, "notauth") // RFC 2136 §3.1.1: not a zone of ours
	}
	key := ""
	if sig != nil {
		key = sig.Key.Name
	}
	refuse := func(why string) ([]byte, int) {
		s.log.Warn("update refused", "zone", origin, "key", key, "client", src.Addr().String(), "reason", why)
		return reply(dns.RcodeRefused, "refused")
	}
	zu := snap.updates[origin]
	switch {
	case zu == nil:
		return refuse("the zone takes no updates (no update rules)")
	case sig == nil:
		return refuse("not signed: updates must carry a TSIG signature")
	case !zu.policy.HasKey(key):
		return refuse("no update rule of the zone names this key")
	}
	// One update or reload at a time; the snapshot is read again under the
	// lock, so that no update is built on a zone another one replaced.
	s.reloading <- struct{}{} // the reload slot: a reload is bounded by reload_timeout
	defer func() { <-s.reloading }()
	if s.handedOver.Load() {
		s.log.Warn("update not applied: this process is handing over to a new binary; the client may retry", "zone", origin, "key", key)
		return reply(dns.RcodeServerFailure, "servfail")
	}
	// The same signed message again (a capture replayed, or a client's
	// retransmission): answered as the first time, not applied again.
	mac := sig.TSIG.MAC
	if prev, ok := s.seen.Lookup(key, mac, now); ok {
		s.log.Warn("update replayed: answered as before, not applied again", "zone", origin, "key", key, "client", src.Addr().String(), "rcode", dns.RcodeToString[prev])
		return reply(prev, "replayed")
	}
	defer func() {
		if rc != dns.RcodeServerFailure { // nothing was applied: a retry may succeed
			s.seen.Add(key, mac, rc, time.Unix(int64(sig.TSIG.TimeSigned)+int64(sig.TSIG.Fudge), 0), now)
		}
	}()
	snap = s.snap.Load()
	zu = snap.updates[origin]
	z := snap.zones.Zone(origin)
	if zu == nil || z == nil {
		return refuse("the zone no longer takes updates (reloaded)")
	}
	res := update.Apply(z, m, key, zu.policy)
	switch res.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeRefused:
		return refuse(res.Reason)
	case dns.RcodeNameError, dns.RcodeYXDomain, dns.RcodeNXRrset, dns.RcodeYXRrset:
		s.log.Info("update prerequisite failed", "zone", origin, "key", key, "rcode", dns.RcodeToString[res.Rcode], "reason", res.Reason)
		return reply(res.Rcode, "prerequisite")
	case dns.RcodeServerFailure:
		s.log.Error("update failed", "zone", origin, "key", key, "reason", res.Reason)
		return reply(res.Rcode, "servfail")
	case dns.RcodeNotZone:
		s.log.Info("update rejected", "zone", origin, "key", key, "rcode", "NOTZONE", "reason", res.Reason)
		return reply(res.Rcode, "notzone")
	default: // FORMERR
		s.log.Info("update rejected", "zone", origin, "key", key, "rcode", dns.RcodeToString[res.Rcode], "reason", res.Reason)
		return reply(res.Rcode, "formerr")
	}
	if res.Zone == nil {
		s.log.Info("update accepted, nothing changed", "zone", origin, "key", key, "names", res.Names, "types", res.Types)
		return reply(dns.RcodeSuccess, "unchanged")
	}
	next, err := snap.withZone(res.Zone)
	if err == nil {
		err = zu.record(&journal.Entry{From: res.From, To: res.To, Time: now, Key: key, Del: res.Del, Add: res.Add})
	}
	if err != nil {
		// Nothing was swapped in: the zone is served as before.
		s.log.Error("update not applied: the journal cannot be written", "zone", origin, "key", key, "err", err)
		return reply(dns.RcodeServerFailure, "servfail")
	}
	s.snap.Store(next)
	s.compactJournal(zu, res.Zone)
	if s.cl != nil {
		s.cl.updated(next) // cluster peers see the instances that took other updates as drift
	}
	s.log.Info("update accepted", "zone", origin, "key", key, "names", res.Names, "types", res.Types, "serial", res.To, "removed", len(res.Del)-1, "added", len(res.Add)-1, "client", src.Addr().String())
	return reply(dns.RcodeSuccess, "accepted")
}
