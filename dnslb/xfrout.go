package dnslb

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/tsig"
	"github.com/dnslb/dnslb/dnslb/xfr"
)

// maxTransfers bounds the zone transfers sent at once; more are REFUSED
// (RFC 5936 §4.2: the secondary retries later).
const maxTransfers = 8

// xfrMessageSize is the size at which a transfer message is cut: well
// below 64 KiB, so that one slow write holds little, and as NSD does.
const xfrMessageSize = 16 << 10

// xfrWriteTimeout bounds each message's write: a secondary that reads
// slower than that loses its transfer, not the server's time.
const xfrWriteTimeout = 10 * time.Second

// transferType returns the QTYPE of a query whose question is AXFR or IXFR,
// or 0, reading the wire form without parsing the rest.
func transferType(msg []byte) uint16 {
	if len(msg) < headerLen || binary.BigEndian.Uint16(msg[4:]) != 1 || msg[2]&0x80 != 0 || msg[2]&0x78 != 0 {
		return 0
	}
	off := headerLen
	for off < len(msg) {
		l := int(msg[off])
		if l == 0 {
			off++
			break
		}
		if l&0xc0 != 0 {
			return 0
		}
		off += 1 + l
	}
	if off+4 > len(msg) {
		return 0
	}
	if t := binary.BigEndian.Uint16(msg[off:]); t == dns.TypeAXFR || t == dns.TypeIXFR {
		return t
	}
	return 0
}

// transferOut answers an AXFR or IXFR on TCP connection c: the whole zone
// or the steps since the secondary's serial, in as many messages as
// needed, each TSIG-signed when the request was. It returns false when the
// connection must close.
func (s *Server) transferOut(c net.Conn, req []byte, src netip.AddrPort) bool {
	var m dns.Msg
	if err := m.Unpack(req); err != nil || len(m.Question) != 1 {
		return false
	}
	q := m.Question[0]
	kind := "axfr"
	if q.Qtype == dns.TypeIXFR {
		kind = "ixfr"
	}
	snap := s.snap.Load()
	origin := dns.CanonicalName(q.Name)
	now := time.Now()
	edns := m.IsEdns0() != nil
	resp := new(dns.Msg)
	resp.SetReply(&m)
	if edns {
		resp.SetEdns0(snap.udpSize, false) // RFC 6891 §7: answer EDNS with EDNS
	}
	sig, key, rcode, result, ok := s.transferCheck(snap, req, &m, kind, src, true)
	single := func(rcode int, result string) bool {
		resp.Rcode = rcode
		s.metrics.transfers.WithLabelValues(kind, result).Inc()
		return s.writeXfr(c, resp, sig, now, "", false) == nil
	}
	if !ok {
		return single(rcode, result)
	}
	pub := s.xfr.published(origin)
	if pub == nil {
		return single(dns.RcodeServerFailure, "failed") // not yet published: the secondary retries
	}
	select {
	case s.xfrSlots <- struct{}{}:
		defer func() { <-s.xfrSlots }()
	default:
		s.log.Warn("transfer refused: too many at once", "zone", origin, "type", kind, "client", src.Addr().String(), "max", maxTransfers)
		return single(dns.RcodeRefused, "busy")
	}
	soa := pub.zone.SOA
	var records []dns.RR
	result = "full"
	if kind == "ixfr" {
		var ok bool
		if records, result, ok = ixfrRecords(pub, &m); !ok {
			return single(dns.RcodeFormatError, "failed") // RFC 1995 §3: the secondary's SOA is required
		}
	}
	if records == nil { // AXFR, or IXFR answered with the whole zone (RFC 1995 §4)
		static := staticRecords(pub.zone)
		records = make([]dns.RR, 0, len(static)+len(pub.pooled)+2)
		records = append(records, soa)
		records = append(records, static...)
		records = append(records, pub.pooled...)
		records = append(records, soa)
	}
	start := time.Now()
	mac, msgs := "", 0
	for len(records) > 0 {
		out := new(dns.Msg)
		out.SetReply(&m)
		out.Authoritative = true
		out.Compress = true
		if edns {
			out.SetEdns0(snap.udpSize, false)
		}
		size := 0
		n := 0
		for n < len(records) && (n == 0 || size+dns.Len(records[n]) < xfrMessageSize) {
			size += dns.Len(records[n])
			n++
		}
		out.Answer = records[:n]
		records = records[n:]
		var err error
		mac, err = s.writeXfrMAC(c, out, sig, now, mac, msgs > 0)
		if err != nil {
			s.metrics.transfers.WithLabelValues(kind, "failed").Inc()
			s.log.Warn("transfer cut off", "zone", origin, "type", kind, "client", src.Addr().String(), "messages", msgs, "err", err)
			return false
		}
		msgs++
	}
	s.metrics.transfers.WithLabelValues(kind, result).Inc()
	s.log.Info("transfer sent", "zone", origin, "type", kind, "answer", result, "serial", pub.serial, "messages", msgs, "key", key, "client", src.Addr().String(), "took", time.Since(start).String())
	return true
}

// published returns what zone origin transfers now, or nil.
func (x *xfrZones) published(origin string) *published {
	if xz := x.get(origin); xz != nil {
		return xz.pub.Load()
	}
	return nil
}

// transferCheck verifies a transfer request's TSIG and the zone's transfer
// rules. It returns the verification (nil: unsigned) and the key's name;
// when !ok, rcode and result say what to answer (logged when logRefusal).
func (s *Server) transferCheck(snap *snapshot, req []byte, m *dns.Msg, kind string, src netip.AddrPort, logRefusal bool) (sig *tsig.Result, key string, rcode int, result string, ok bool) {
	q := m.Question[0]
	origin := dns.CanonicalName(q.Name)
	sig = snap.keyring.Verify(req, m)
	if sig != nil && sig.Error != 0 {
		if logRefusal {
			s.log.Warn("transfer refused: TSIG", "zone", origin, "type", kind, "error", dns.RcodeToString[int(sig.Error)], "key", sig.TSIG.Hdr.Name, "client", src.Addr().String())
		}
		return sig, "", dns.RcodeNotAuth, "notauth", false
	}
	if sig != nil {
		key = sig.Key.Name
	}
	allowed := false
	if i := snap.zoneIndex(origin); i >= 0 {
		for _, r := range snap.cfg.Zones[i].Transfer {
			allowed = allowed || r.Allows(src.Addr(), key)
		}
	}
	if !allowed || q.Qclass != dns.ClassINET {
		if logRefusal {
			s.log.Warn("transfer refused", "zone", origin, "type", kind, "key", key, "client", src.Addr().String())
		}
		return sig, key, dns.RcodeRefused, "refused", false
	}
	return sig, key, 0, "", true
}

// ixfrRecords returns the IXFR answer (RFC 1995) to m from pub: the SOA
// alone when the secondary is up to date, the difference sequence when
// the history holds its serial, nil for the whole zone. !ok: m carries
// no SOA of the secondary's.
func ixfrRecords(pub *published, m *dns.Msg) (records []dns.RR, result string, ok bool) {
	var their uint32
	if len(m.Ns) != 1 {
		return nil, "", false
	}
	t, isSOA := m.Ns[0].(*dns.SOA)
	if !isSOA {
		return nil, "", false
	}
	their = t.Serial
	soa := pub.zone.SOA
	if !xfr.Greater(pub.serial, their) {
		return []dns.RR{soa}, "uptodate", true // RFC 1995 §2: nothing newer
	}
	steps, inHistory := pub.history.Since(their)
	if !inHistory {
		return nil, "full", true
	}
	records = []dns.RR{soa}
	for _, d := range steps {
		records = append(records, d.Del...)
		records = append(records, d.Add...)
	}
	return append(records, soa), "incremental", true
}

// ixfrUDP answers an IXFR over UDP (RFC 1995 §2) as BIND and Knot do: the
// IXFR answer when it fits in one datagram, else the SOA alone, which
// tells the secondary to ask again over TCP; never the whole zone. The
// same TSIG and transfer rules as over TCP apply. limit is the size the
// client can take.
func (s *Server) ixfrUDP(snap *snapshot, req []byte, m *dns.Msg, src netip.AddrPort, limit int) ([]byte, int) {
	now := time.Now()
	resp := new(dns.Msg)
	resp.SetReply(m)
	if m.IsEdns0() != nil {
		resp.SetEdns0(snap.udpSize, false)
	}
	// Refusals are not logged: a UDP source can be forged at any rate.
	sig, key, rcode, result, ok := s.transferCheck(snap, req, m, "ixfr", src, false)
	pack := func() []byte {
		var out []byte
		var err error
		if sig == nil {
			out, err = resp.Pack()
		} else {
			out, err = tsig.Sign(resp, sig, now)
		}
		if err != nil {
			s.log.Error("cannot pack an IXFR answer", "err", err)
			return nil
		}
		return out
	}
	if !ok {
		resp.Rcode = rcode
		s.metrics.transfers.WithLabelValues("ixfr", result).Inc()
		return pack(), rcode
	}
	origin := dns.CanonicalName(m.Question[0].Name)
	pub := s.xfr.published(origin)
	if pub == nil {
		s.metrics.transfers.WithLabelValues("ixfr", "failed").Inc()
		resp.Rcode = dns.RcodeServerFailure
		return pack(), dns.RcodeServerFailure
	}
	records, result, ok := ixfrRecords(pub, m)
	if !ok {
		s.metrics.transfers.WithLabelValues("ixfr", "failed").Inc()
		resp.Rcode = dns.RcodeFormatError
		return pack(), dns.RcodeFormatError
	}
	resp.Authoritative = true
	resp.Compress = true
	var out []byte
	if records == nil {
		result = "tcp" // the whole zone never goes over UDP
	} else {
		resp.Answer = records
		if out = pack(); len(out) > limit {
			out, result = nil, "tcp"
		}
	}
	if out == nil {
		resp.Answer = []dns.RR{pub.zone.SOA}
		resp.Extra = slices.DeleteFunc(resp.Extra, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeTSIG })
		out = pack()
	}
	s.metrics.transfers.WithLabelValues("ixfr", result).Inc()
	s.log.Info("transfer sent", "zone", origin, "type", "ixfr", "transport", "udp", "answer", result, "serial", pub.serial, "key", key, "client", src.Addr().String())
	return out, dns.RcodeSuccess
}

// zoneIndex returns the index in the config of the zone whose origin is
// origin, or -1.
func (s *snapshot) zoneIndex(origin string) int {
	for i := range s.cfg.Zones {
		if s.cfg.Zones[i].Origin == origin {
			return i
		}
	}
	return -1
}

func (s *Server) writeXfr(c net.Conn, m *dns.Msg, sig *tsig.Result, now time.Time, mac string, later bool) error {
	_, err := s.writeXfrMAC(c, m, sig, now, mac, later)
	return err
}

// writeXfrMAC writes one message of a transfer, signed when the request
// was: the first with the request's MAC, each later one with the previous
// message's MAC and the timers only (RFC 8945 §5.3.1). It returns the MAC.
func (s *Server) writeXfrMAC(c net.Conn, m *dns.Msg, sig *tsig.Result, now time.Time, mac string, later bool) (string, error) {
	var wire []byte
	var err error
	switch {
	case sig == nil:
		wire, err = m.Pack()
	case sig.Error != 0:
		wire, err = tsig.Sign(m, sig, now) // BADKEY, BADSIG unsigned; BADTIME signed
	default:
		prev := mac
		if !later {
			prev = sig.TSIG.MAC
		}
		m.Extra = append(m.Extra, &dns.TSIG{
			Hdr: dns.RR_Header{Name: sig.TSIG.Hdr.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY}, Algorithm: sig.TSIG.Algorithm,
			Fudge: tsig.Fudge, TimeSigned: uint64(now.Unix()), OrigId: m.Id,
		})
		wire, mac, err = dns.TsigGenerate(m, sig.Key.Secret(), prev, later)
	}
	if err != nil {
		return "", err
	}
	out := make([]byte, 2, 2+len(wire))
	binary.BigEndian.PutUint16(out, uint16(len(wire)))
	out = append(out, wire...)
	_ = c.SetWriteDeadline(time.Now().Add(xfrWriteTimeout))
	_, err = c.Write(out)
	return mac, err
}
