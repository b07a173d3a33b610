package dnslb

import (
	"encoding/binary"
	"net"
	"net/netip"
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
	sig := snap.keyring.Verify(req, &m)
	now := time.Now()
	edns := m.IsEdns0() != nil
	resp := new(dns.Msg)
	resp.SetReply(&m)
	if edns {
		resp.SetEdns0(snap.udpSize, false) // RFC 6891 §7: answer EDNS with EDNS
	}
	single := func(rcode int, result string) bool {
		resp.Rcode = rcode
		s.metrics.transfers.WithLabelValues(kind, result).Inc()
		return s.writeXfr(c, resp, sig, now, "", false) == nil
	}
	if sig != nil && sig.Error != 0 {
		s.log.Warn("transfer refused: TSIG", "zone", origin, "type", kind, "error", dns.RcodeToString[int(sig.Error)], "key", sig.TSIG.Hdr.Name, "client", src.Addr().String())
		return single(dns.RcodeNotAuth, "notauth")
	}
	key := ""
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
		s.log.Warn("transfer refused", "zone", origin, "type", kind, "key", key, "client", src.Addr().String())
		return single(dns.RcodeRefused, "refused")
	}
	xz := s.xfr.get(origin)
	var pub *published
	if xz != nil {
		pub = xz.pub.Load()
	}
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
	result := "full"
	if kind == "ixfr" {
		var their uint32
		hasSerial := false
		if len(m.Ns) == 1 {
			if t, ok := m.Ns[0].(*dns.SOA); ok {
				their, hasSerial = t.Serial, true
			}
		}
		if !hasSerial {
			return single(dns.RcodeFormatError, "failed") // RFC 1995 §3: the secondary's SOA is required
		}
		if !xfr.Greater(pub.serial, their) {
			records, result = []dns.RR{soa}, "uptodate" // RFC 1995 §2: nothing newer
		} else if steps, ok := pub.history.Since(their); ok {
			records, result = []dns.RR{soa}, "incremental"
			for _, d := range steps {
				records = append(records, d.Del...)
				records = append(records, d.Add...)
			}
			records = append(records, soa)
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
