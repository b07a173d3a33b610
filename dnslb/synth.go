package dnslb

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/dnssec"
	"github.com/dnslb/dnslb/zones"
)

// Synthesized answers: names that never repeat — a random-subdomain flood
// (NXDOMAIN), random labels under a wildcard, and NODATA — are answered from
// wire pieces prepared with the snapshot, without miekg/dns and without the
// answer cache, so that they cost about what a cache hit costs and never
// evict the answers real traffic reuses. Every response is byte for byte
// what the general path builds (TestSynthMatchesGeneral); anything unusual
// falls back to it.

// zoneSynth is a zone's negative answer piece: the authority section of its
// NXDOMAIN (and NODATA) response to a sample question, as the general path
// packs it. Its compression pointers point into the question's zone origin
// or into the piece itself; for another question name they all move by the
// difference of the names' lengths.
type zoneSynth struct {
	soa       []byte
	ptrs      []int    // offsets in soa of the compression pointers
	sampleLen int      // wire length of the sample question name
	below     []string // first labels under the origin of the SOA's names that are in the zone: a question name with one of them could compress further
	slot      int      // the zone's index in the query counters
	// signed: the zone is signed online ([zone.dnssec]) or has a DNSKEY
	// at its apex. Its DO=1 queries, and its apex (where the signer's keys
	// live), take the general path, the one that knows about signatures,
	// compact denial and keys.
	signed bool
}

// buildSynth prepares the negative answer piece of z.
func buildSynth(z *zones.Zone) (*zoneSynth, error) {
	zs := &zoneSynth{signed: z.Apex.Has(dns.TypeDNSKEY)}
	soa := z.NegativeSOA
	for _, n := range []string{soa.Ns, soa.Mbox} {
		n = dns.CanonicalName(n)
		if n != z.Origin && dns.IsSubDomain(z.Origin, n) {
			labels := dns.SplitDomainName(n)
			zs.below = append(zs.below, labels[len(labels)-dns.CountLabel(z.Origin)-1])
		}
	}
	// A sample name whose first label no SOA name shares, so that nothing
	// compresses against more of it than its origin.
	label := "a"
	for i := 0; contains(zs.below, label); i++ {
		label = fmt.Sprintf("a%d", i)
	}
	sample := label + "." + z.Origin
	if z.Origin == "." {
		sample = label + "."
	}
	m := new(dns.Msg)
	m.Response, m.Authoritative, m.Rcode = true, true, dns.RcodeNameError
	m.Question = []dns.Question{{Name: sample, Qtype: dns.TypeA, Qclass: dns.ClassINET}}
	m.Ns = []dns.RR{soa}
	a, err := newAnswer(m, "", z.Origin, nil, shrinkAll)
	if err != nil {
		return nil, fmt.Errorf("zone %s: negative answer: %w", z.Origin, err)
	}
	zs.sampleLen = len(sample) + 1
	start := headerLen + zs.sampleLen + 4
	zs.soa = a.wire[start:]
	// Pointers: in the owner, then in MNAME and RNAME.
	off := zs.names(0)
	off += 10
	off = zs.names(off)
	zs.names(off)
	return zs, nil
}

// names records the pointer of the name at off in zs.soa, if any, and
// returns the offset after the name.
func (zs *zoneSynth) names(off int) int {
	for {
		l := int(zs.soa[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xC0 == 0xC0:
			zs.ptrs = append(zs.ptrs, off)
			return off + 2
		}
		off += 1 + l
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// synthQtype reports whether qtype can be synthesized: not a meta type
// or NXNAME (answered before any zone is looked up), not ANY (RFC 8482),
// not DS (the parent side of a cut).
func synthQtype(qtype uint16) bool {
	switch qtype {
	case dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR, dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeMAILA, dns.TypeMAILB, dns.TypeDS, dnssec.TypeNXNAME:
		return false
	}
	return true
}

// synthMemo remembers where the last synthesized name's lookup stood
// above its first label: a flood of random labels under one name (a
// zone's apex, a wildcard's owner) then costs neither the zone search nor
// the walk down the zone, only a comparison of the parent name.
type synthMemo struct {
	snap   *snapshot // nil: nothing remembered
	parent []byte    // the parent name in wire form (lowercase)
	zone   *zones.Zone
	zs     *zoneSynth
	node   *zones.Node // the parent's node (zones.Zone.ClassifyParent)
	wild   *zones.Node // its wildcard child, or nil
}

// forget drops what was remembered of another snapshot than snap, so
// that a worker never keeps an old snapshot alive.
func (m *synthMemo) forget(snap *snapshot) {
	if m.snap != nil && m.snap != snap {
		*m = synthMemo{parent: m.parent[:0]}
	}
}

// synthesize answers the fast path's query from wire pieces, or returns
// nil when the general path must (anything but NXDOMAIN, NODATA and
// wildcard answers of A, AAAA or TXT — pools cannot be wildcards; names with characters that
// need escapes; responses that do not fit).
func (w *worker) synthesize(snap *snapshot, req []byte, src netip.AddrPort, now int64) []byte {
	if snap.synth == nil || w.noSynth || !synthQtype(w.q.qtype) {
		return nil
	}
	// The key ends with the type, and a 'D' for DO=1 (parseQuery).
	wire := w.key[:w.q.qlen-4]
	if len(wire) < 2 || !plain(wire[1:1+wire[0]]) {
		return nil // the root, or escapes
	}
	var (
		z        *zones.Zone
		zs       *zoneSynth
		kind     zones.Kind
		node     *zones.Node
		wildcard bool
	)
	m := &w.memo
	// Names are as long in presentation form as in wire form less one.
	if parent := wire[1+int(wire[0]):]; m.snap == snap && string(parent) == string(m.parent) && !snap.zones.MayBeOrigin(len(wire)-1) {
		// Below the remembered parent (plain: it was checked), in its zone
		// (no deeper zone: the name itself would be its origin).
		z, zs = m.zone, m.zs
		w.memoHits++
		if zs.signed && w.q.do {
			return nil
		}
		var n *zones.Node
		if z.MayHold(len(wire) - 1) {
			n = z.NodeBytes(w.presentation(wire))
		}
		kind, node, wildcard = z.ClassifyChild(m.node, m.wild, n, w.q.qtype)
	} else {
		for off := 1 + int(wire[0]); wire[off] != 0; off += 1 + int(wire[off]) {
			if !plain(wire[off+1 : off+1+int(wire[off])]) {
				return nil
			}
		}
		name := w.presentation(wire)
		if z = snap.zones.FindBytes(name); z == nil {
			return nil
		}
		zs = snap.synth[z]
		if zs == nil || zs.signed && (w.q.do || len(name) == len(z.Origin)) {
			return nil // a zone swapped in after the snapshot's pieces were made, or DNSSEC
		}
		var p *zones.Node
		kind, node, wildcard, p = z.ClassifyParent(name, w.q.qtype)
		if p != nil {
			*m = synthMemo{snap: snap, parent: append(m.parent[:0], parent...), zone: z, zs: zs, node: p, wild: z.Wildcard(p)}
		}
	}
	w.syn.zone = z.Origin // RRL keys NXDOMAIN by zone
	r := w.fastReply(snap, req, src, now)
	switch {
	case kind == zones.NXDomain || kind == zones.NoData:
		return w.negative(zs, z, wire, kind, &r)
	case kind == zones.Answer && wildcard && (w.q.qtype == dns.TypeA || w.q.qtype == dns.TypeAAAA || w.q.qtype == dns.TypeTXT):
		return w.wildcardAnswer(zs, node, &r)
	}
	return nil
}

// presentation is the wire name (plain labels only) in presentation form:
// without its first length octet, each other length octet (and the
// root's) a dot. The result is valid until the next call.
func (w *worker) presentation(wire []byte) []byte {
	name := append(w.name[:0], wire[1:]...)
	for off := 0; wire[off] != 0; off += 1 + int(wire[off]) {
		name[off+int(wire[off])] = '.'
	}
	w.name = name
	return name
}

// negative is NXDOMAIN or NODATA with the zone's SOA; wire is the question
// name.
func (w *worker) negative(zs *zoneSynth, z *zones.Zone, wire []byte, kind zones.Kind, r *reply) []byte {
	// The label just under the origin must not be one of the SOA names':
	// those would compress into the question further than the piece does.
	originLen := len(z.Origin) + 1 // in wire form
	if z.Origin == "." {
		originLen = 1
	}
	if len(wire) > originLen && len(zs.below) > 0 {
		off := 0
		for len(wire)-(off+1+int(wire[off])) > originLen {
			off += 1 + int(wire[off])
		}
		for _, b := range zs.below {
			if string(wire[off+1:off+1+int(wire[off])]) == b {
				return nil
			}
		}
	}
	rcode := byte(0)
	if kind == zones.NXDomain {
		rcode = dns.RcodeNameError
	}
	out := append(w.rd.out[:0], byte(r.id>>8), byte(r.id), 0x84|byte(r.flags>>8)&byte(flagRD>>8), rcode|byte(r.flags)&byte(flagCD), 0, 1, 0, 0, 0, 1, 0, 0)
	out = append(out, r.question...)
	start := len(out)
	out = append(out, zs.soa...)
	delta := len(r.question) - 4 - zs.sampleLen
	for _, p := range zs.ptrs {
		v := int(binary.BigEndian.Uint16(out[start+p:])&0x3fff) + delta
		binary.BigEndian.PutUint16(out[start+p:], 0xC000|uint16(v))
	}
	return w.finishSynth(out, zs, int(rcode), r)
}

// wildcardAnswer is the wildcard's records owned by the question name.
func (w *worker) wildcardAnswer(zs *zoneSynth, node *zones.Node, r *reply) []byte {
	out := append(w.rd.out[:0], byte(r.id>>8), byte(r.id), 0x84|byte(r.flags>>8)&byte(flagRD>>8), byte(r.flags)&byte(flagCD), 0, 1, 0, 0, 0, 0, 0, 0)
	out = append(out, r.question...)
	n := 0
	for recs := node.Wire(w.q.qtype); len(recs) > 0; n++ {
		l := 10 + int(binary.BigEndian.Uint16(recs[8:]))
		out = append(out, 0xC0, headerLen)
		out = append(out, recs[:l]...)
		recs = recs[l:]
	}
	binary.BigEndian.PutUint16(out[6:], uint16(n))
	return w.finishSynth(out, zs, 0, r)
}

func (w *worker) finishSynth(out []byte, zs *zoneSynth, rcode int, r *reply) []byte {
	if r.edns {
		out = appendOPT(out, r, 0, 0)
		out[11] = 1
	}
	w.rd.out = out[:0]
	if len(out) > r.limit {
		return nil
	}
	w.stats.count(w.tcp, zs.slot, w.q.qtype, rcode, len(out), false)
	return out
}
