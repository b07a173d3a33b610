package dnslb

import (
	"encoding/binary"
	"errors"
	"sync/atomic"

	"github.com/miekg/dns"
)

// answer is a response computed once and sent many times: the wire form of
// the response to the canonical (lowercase) question, with ID 0, RD and CD
// clear and no OPT. Sending one patches the ID and flags, copies the
// question as asked (keeping its case), appends the pool's records for a
// dynamic answer, and the OPT record when the query had one.
type answer struct {
	key      string // lowercase wire name + type: the cache key
	wire     []byte
	fam      *family // non-nil: a pool answers; its records go at the end of wire
	owner    uint16  // offset of the name the pool records belong to (a compression pointer target)
	rcode    int
	zone     string // zone origin for metrics; "" when no zone matched
	zoneSlot int    // zone's index in the query counters
	// shrink says what to drop when the response does not fit: optional
	// additional records (shrinkAdditional), glue of a referral, which also
	// sets TC (shrinkGlue), or everything (0: TC with the question only).
	shrink int
	// Signed answers (DO=1 to a signed zone): sigs signs the pool's
	// members as listed; refresh (unix nanos, 0 = never) is when a
	// signature in wire is due to be replaced: the cached answer is then
	// built again.
	sigs    *poolSigs
	refresh int64
	nxname  bool // a signed NXDOMAIN, sent as NOERROR: counted and limited as NXDOMAIN

	name  string // the question: lowercase name and type
	qtype uint16
	// Stand-ins for this answer, built the first time they are needed:
	// the NODATA sent when a pool has nothing to serve, and the answer
	// without optional additional records (or glue) for a small limit.
	noMembers    atomic.Pointer[answer]
	noAdditional atomic.Pointer[answer]
}

const (
	shrinkAll = iota
	shrinkAdditional
	shrinkGlue
)

// errTooBig: the response does not fit the requester's limit.
var errTooBig = errors.New("response too big")

// renderer is per-worker scratch for sending answers; it is not shared.
type renderer struct {
	out     []byte
	members []int
}

// reply is the parts of a request a response echoes.
type reply struct {
	id        uint16
	flags     uint16 // request header flags: RD and CD are copied
	question  []byte // the question section as asked (case preserved)
	edns      bool
	udpSize   uint16
	do        bool
	ecs       *ecsOption
	client    client
	limit     int    // largest response allowed
	now       int64  // coarse clock, unix nanos
	advertise uint16 // our EDNS payload size
	cookie    []byte // the COOKIE option to send (client + server cookie), or nil
}

// render writes a's response to r into rd.out.
func (rd *renderer) render(a *answer, r *reply) ([]byte, error) {
	if len(a.wire) > r.limit {
		return nil, errTooBig // without copying a large RRset only to find out
	}
	out := append(rd.out[:0], a.wire...)
	binary.BigEndian.PutUint16(out, r.id)
	out[2] |= byte(r.flags>>8) & byte(flagRD>>8)
	out[3] |= byte(r.flags) & byte(flagCD)
	copy(out[headerLen:], r.question)
	scope := uint8(0)
	if a.fam != nil {
		sel := a.fam.selectMembers(rd.members, r.client, r.now)
		rd.members = sel.members[:0]
		if len(sel.members) == 0 {
			return nil, errNoMembers
		}
		for _, i := range sel.members {
			m := sel.fam.members[i]
			start := len(out)
			out = append(out, 0xC0|byte(a.owner>>8), byte(a.owner))
			out = append(out, m.rr[:m.rrLen]...)
			binary.BigEndian.PutUint32(out[start+6:], sel.ttl)
		}
		n := len(sel.members)
		if a.sigs != nil {
			ps, err := a.sigs.find(&sel, r.now)
			if err != nil {
				return nil, err
			}
			var k int
			out, k = ps.appendRRSIGs(out, a.owner, sel.ttl)
			n += k
		}
		binary.BigEndian.PutUint16(out[6:], binary.BigEndian.Uint16(out[6:])+uint16(n))
		sel.fam.members[sel.members[0]].state.served.Add(1)
		scope = sel.scope
	}
	if r.edns {
		out = appendOPT(out, r, scope, 0)
		binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
	}
	rd.out = out[:0]
	if len(out) > r.limit {
		return nil, errTooBig
	}
	return out, nil
}

// variant returns the answer to a's question built in mode
// (resolveNoPoolMembers or resolveNoAdditional), made the first time it
// is asked for and kept with a for the life of its snapshot.
func (a *answer) variant(snap *snapshot, mode int, do bool, now int64) (*answer, error) {
	p := &a.noAdditional
	if mode == resolveNoPoolMembers {
		p = &a.noMembers
	}
	if b := p.Load(); b != nil {
		return b, nil
	}
	b, err := snap.resolve(a.name, a.qtype, a.key, mode, do, now)
	if err != nil {
		return nil, err
	}
	b.zoneSlot = a.zoneSlot // the same question: the same zone
	p.Store(b)
	return b, nil
}

// errNoMembers: a pool has nothing to serve (when_all_down = "none").
var errNoMembers = errors.New("no member to serve")

// appendOPT appends our OPT record: payload size, extended rcode bits,
// version 0, the DO bit echoed, and the client subnet option echoed with the
// scope the answer used (RFC 7871 §7.2.1). Unknown options are not echoed.
func appendOPT(out []byte, r *reply, scope uint8, extRcode uint8) []byte {
	var flags byte
	if r.do {
		flags = 0x80
	}
	out = append(out, 0, byte(dns.TypeOPT>>8), byte(dns.TypeOPT&0xff), byte(r.advertise>>8), byte(r.advertise), extRcode, ednsVersion, flags, 0)
	rdlen, n := 0, 0
	if r.ecs != nil {
		n = (int(r.ecs.sourcePrefix) + 7) / 8
		rdlen += 4 + 4 + n
	}
	if r.cookie != nil {
		rdlen += 4 + len(r.cookie)
	}
	out = append(out, byte(rdlen>>8), byte(rdlen))
	if r.ecs != nil {
		out = append(out, 0, optCodeECS, byte((4+n)>>8), byte(4+n))
		out = append(out, byte(r.ecs.addrFamily>>8), byte(r.ecs.addrFamily), r.ecs.sourcePrefix, min(scope, maxPrefix(r.ecs.addrFamily)))
		out = append(out, r.ecs.addr[:n]...)
	}
	if r.cookie != nil {
		out = append(out, 0, optCodeCookie, 0, byte(len(r.cookie)))
		out = append(out, r.cookie...)
	}
	return out
}

func maxPrefix(addrFamily uint16) uint8 {
	if addrFamily == 2 {
		return 128
	}
	return 32
}

// udpLimit is the largest UDP response for a request (RFC 6891 §6.2.5):
// 512 without EDNS, else the requester's size bounded by ours.
func udpLimit(edns bool, size uint16, ours int) int {
	if !edns {
		return 512
	}
	return max(512, min(int(size), ours))
}

// newAnswer packs msg (the response to the canonical question) into an
// answer. For a dynamic answer, fam is the pool family whose records follow
// what msg holds, owned by the last name in msg's answer section (or the
// question name).
func newAnswer(msg *dns.Msg, key, zone string, fam *family, shrink int) (*answer, error) {
	msg.Id = 0
	msg.Compress = true
	wire, err := msg.Pack()
	if err != nil {
		return nil, err
	}
	a := &answer{key: key, wire: wire, fam: fam, rcode: msg.Rcode, zone: zone, shrink: shrink}
	if len(msg.Question) == 1 {
		a.name, a.qtype = msg.Question[0].Name, msg.Question[0].Qtype
	}
	if fam != nil {
		a.owner = headerLen
		if n := len(msg.Answer); n > 0 {
			a.owner = uint16(lastRdataOffset(wire, n))
		}
	}
	return a, nil
}

// lastRdataOffset returns where the RDATA of the n-th (last) answer record
// starts: the CNAME target that pool records are owned by.
func lastRdataOffset(wire []byte, n int) int {
	off := skipName(wire, headerLen) + 4
	start := off
	for range n {
		off = skipName(wire, off)
		start = off + 10
		off = start + int(binary.BigEndian.Uint16(wire[off+8:]))
	}
	return start
}

// skipName returns the offset after the (possibly compressed) name at off
// in a message we packed ourselves.
func skipName(wire []byte, off int) int {
	for {
		l := int(wire[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xC0 == 0xC0:
			return off + 2
		}
		off += 1 + l
	}
}
