package dnslb

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime/debug"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/geo"
)

// worker answers queries one at a time with its own scratch space. Each UDP
// socket and each TCP connection has one. Only its counters may be shared:
// every TCP connection's worker counts into the server's one tcpStats
// (atomics).
type worker struct {
	srv   *Server
	tcp   bool
	rd    renderer
	key   []byte
	q     query
	stats *workerStats
	n     uint64 // queries answered, for sampling
	ck    cookieReply
	name  []byte // the question name in presentation form, for synthesized answers
	syn   answer // what RRL needs of a synthesized answer: its zone
	memo  synthMemo
	// memoHits counts the synthesized answers whose parent name was
	// remembered (tests check that the memo is used).
	memoHits int
	// noSynth turns synthesized answers off (tests compare them with the
	// general path).
	noSynth bool
}

func newWorker(srv *Server, tcp bool, stats *workerStats) *worker {
	return &worker{
		srv: srv, tcp: tcp, stats: stats,
		rd:  renderer{out: make([]byte, 0, 65535+512), members: make([]int, 0, 64)},
		key: make([]byte, 0, 258), name: make([]byte, 0, 256), memo: synthMemo{parent: make([]byte, 0, 256)},
	}
}

// serve returns the response to req from src, or nil to send nothing. The
// result is valid until the next call.
func (w *worker) serve(req []byte, src netip.AddrPort) (resp []byte) {
	snap := w.srv.snap.Load()
	w.memo.forget(snap)
	now := w.srv.clock.now()
	w.n++
	timed := w.n%durationSample == 0
	var start int64
	if timed {
		start = nanotime()
	}
	w.ck.state = cookieNone
	defer func() {
		w.stats.cookies[w.ck.state].Add(1)
		if p := recover(); p != nil {
			w.stats.panics.Add(1)
			w.srv.log.Error("panic while answering; answered SERVFAIL", "panic", fmt.Sprint(p), "client", src.String(), "stack", string(debug.Stack()))
			resp = w.errorReply(req, nil, dns.RcodeServerFailure, nil)
			w.stats.count(w.tcp, 0, 0, dns.RcodeServerFailure, len(resp), false)
		}
	}()
	if !w.tcp && reflectorPort(src.Port()) {
		w.stats.dropped.Add(1)
		return nil
	}
	key, fast := parseQuery(req, &w.q, w.key)
	w.key = key
	if len(snap.geoMaps) > 0 {
		// Start loading what each map's lookup of the client will read,
		// so that it arrives while the query is answered instead of
		// stalling the lookup: with many clients, their entries are seldom
		// in the CPU's caches. Queries for other names pay only a few
		// instructions.
		switch a := src.Addr(); {
		case w.q.hasECS && w.q.ecs.addrFamily == 1:
			prefetch4(snap.geoMaps, binary.BigEndian.Uint32(w.q.ecs.addr[:4]))
		case w.q.hasECS:
			prefetch6(snap.geoMaps, binary.BigEndian.Uint64(w.q.ecs.addr[:8]))
		case a.Is4():
			b := a.As4()
			prefetch4(snap.geoMaps, binary.BigEndian.Uint32(b[:]))
		default:
			b := a.As16()
			prefetch6(snap.geoMaps, binary.BigEndian.Uint64(b[:8]))
		}
	}
	if fast && w.q.hasCookie && !w.ck.eval(snap.cookies, req[w.q.cookieOff:w.q.cookieOff+w.q.cookieLen], src.Addr(), now, w.q.do) {
		fast = false // malformed: the general path answers FORMERR
	}
	if fast && !w.tcp && (w.ck.state == cookieBad || snap.requireCookie && w.ck.state != cookieValid) {
		r := w.fastReply(snap, req, src, now)
		out := w.cookieRefusal(req, r.question, &r)
		if snap.rrl != nil {
			out = w.limit(snap, out, nil, src.Addr(), nil, now)
		}
		return out
	}
	if fast {
		if a := snap.cache.get(key); a != nil && (a.refresh == 0 || now < a.refresh) {
			r := w.fastReply(snap, req, src, now)
			out, used, truncated, err := w.respond(snap, a, &r)
			if err == nil {
				w.stats.paths[pathCache].Add(1)
				if snap.rrl != nil && !w.tcp && w.ck.state != cookieValid {
					if out = w.limit(snap, out, used, src.Addr(), rrlKey(key, w.q.do), now); out == nil {
						return nil
					}
				}
				w.stats.count(w.tcp, used.zoneSlot, w.q.qtype, used.rcode, len(out), truncated)
				if timed {
					w.stats.observeDuration(nanotime() - start)
				}
				if snap.queryLog != nil {
					snap.queryLog.log(src, req, out)
				}
				return out
			}
		}
	}
	if fast {
		if out := w.synthesize(snap, req, src, now); out != nil {
			w.stats.paths[pathSynth].Add(1)
			if snap.rrl != nil && !w.tcp && w.ck.state != cookieValid {
				if out = w.limit(snap, out, &w.syn, src.Addr(), rrlKey(key, w.q.do), now); out == nil {
					return nil
				}
			}
			if timed {
				w.stats.observeDuration(nanotime() - start)
			}
			if snap.queryLog != nil {
				snap.queryLog.log(src, req, out)
			}
			return out
		}
	}
	resp, a := w.general(snap, req, src, fast, now)
	w.stats.paths[pathGeneral].Add(1)
	if resp != nil && snap.rrl != nil && !w.tcp && w.ck.state != cookieValid {
		if !fast {
			key = nil // not a question we could key on
		}
		resp = w.limit(snap, resp, a, src.Addr(), rrlKey(key, fast && w.q.do), now)
	}
	if timed {
		w.stats.observeDuration(nanotime() - start)
	}
	if snap.queryLog != nil && resp != nil {
		snap.queryLog.log(src, req, resp)
	}
	return resp
}

func (w *worker) fastReply(snap *snapshot, req []byte, src netip.AddrPort, now int64) reply {
	r := reply{
		id: w.q.id, flags: w.q.flags, question: req[headerLen : headerLen+w.q.qlen],
		edns: w.q.edns, udpSize: w.q.udpSize, do: w.q.do, now: now, advertise: snap.udpSize,
		client: client{addr: src.Addr(), prefix: -1}, cookie: w.ck.option(),
	}
	if w.q.hasECS {
		r.ecs = &w.q.ecs
		r.client = w.q.ecs.client()
	}
	r.limit = w.sizeLimit(snap, r.edns, r.udpSize)
	return r
}

func (w *worker) sizeLimit(snap *snapshot, edns bool, size uint16) int {
	if w.tcp {
		return 65535
	}
	return udpLimit(edns, size, int(snap.udpSize))
}

// client returns the subnet an ECS option names.
func (e *ecsOption) client() client {
	var a netip.Addr
	if e.addrFamily == 2 {
		a = netip.AddrFrom16(e.addr)
	} else {
		a = netip.AddrFrom4([4]byte(e.addr[:4]))
	}
	return client{addr: a, prefix: int(e.sourcePrefix), ecs: e}
}

// prefetch4 and prefetch6 prefetch a client's entry in each map (see
// serve); prefetch6 takes the first 64 bits of the address.
func prefetch4(maps []*geo.Map, a uint32) {
	for _, m := range maps {
		m.Prefetch4(a)
	}
}

func prefetch6(maps []*geo.Map, hi uint64) {
	for _, m := range maps {
		m.Prefetch6(hi)
	}
}

// locate is m.Lookup of the subnet, read from the option's bytes.
func (e *ecsOption) locate(m *geo.Map) (list, scope int) {
	if e.addrFamily == 1 {
		return m.Lookup4(binary.BigEndian.Uint32(e.addr[:4]))
	}
	return m.Lookup6(binary.BigEndian.Uint64(e.addr[:8]), binary.BigEndian.Uint64(e.addr[8:]))
}

// general answers what the fast path leaves (and fills the cache when the
// question is one it keys on): it reads the request with miekg/dns, checks
// its EDNS options and its question, then resolves.
func (w *worker) general(snap *snapshot, req []byte, src netip.AddrPort, fast bool, now int64) ([]byte, *answer) {
	var m dns.Msg
	optAt, out, ok := w.unpack(req, &m)
	if !ok {
		return out, nil
	}
	var question []byte
	if len(m.Question) == 1 {
		question = packQuestion(m.Question[0])
	}
	r := reply{id: m.Id, flags: binary.BigEndian.Uint16(req[2:]), question: question, now: now, advertise: snap.udpSize, client: client{addr: src.Addr(), prefix: -1}}
	qtype := uint16(0)
	if len(m.Question) > 0 {
		qtype = m.Question[0].Qtype
	}
	fail := func(rcode int, withOPT bool) ([]byte, *answer) {
		var rr *reply
		if withOPT {
			rr = &r
		}
		out := w.errorReply(req, question, rcode, rr)
		w.stats.count(w.tcp, 0, qtype, rcode, len(out), false)
		return out, nil
	}
	opt, rcode, withOPT := w.readEDNS(snap, req, optAt, &m, src, now, &r)
	if rcode != dns.RcodeSuccess {
		return fail(rcode, withOPT)
	}
	if !w.tcp && (w.ck.state == cookieBad || snap.requireCookie && w.ck.state != cookieValid) {
		return w.cookieRefusal(req, question, &r), nil
	}
	if m.Opcode == dns.OpcodeUpdate && len(snap.updates) > 0 { // else NOTIMP, as NSD: no zone takes updates
		out, rcode := w.srv.update(snap, req, &m, opt, src)
		w.stats.count(w.tcp, 0, qtype, rcode, len(out), false)
		return out, nil
	}
	if m.Opcode != dns.OpcodeQuery {
		return fail(dns.RcodeNotImplemented, true) // NOTIFY, UPDATE, … (RFC 8906 §3.1.4: never silence)
	}
	if len(m.Question) == 1 && m.Question[0].Qtype == dns.TypeIXFR && len(m.Answer) == 0 {
		if w.tcp { // a transfer on TCP is taken before this (transferType); this one is malformed
			return fail(dns.RcodeRefused, true)
		}
		out, rcode := w.srv.ixfrUDP(snap, req, &m, src, w.sizeLimit(snap, r.edns, r.udpSize))
		w.stats.count(w.tcp, 0, qtype, rcode, len(out), false)
		return out, nil
	}
	if rcode := refuseQuestion(&m); rcode != dns.RcodeSuccess {
		return fail(rcode, true)
	}
	q := m.Question[0]
	r.limit = w.sizeLimit(snap, r.edns, r.udpSize)
	out, used, truncated, err := w.answerQuestion(snap, q, fast, now, &r)
	if err != nil {
		w.srv.log.Error("cannot build answer", "qname", dns.CanonicalName(q.Name), "qtype", dns.TypeToString[q.Qtype], "err", err)
		return fail(dns.RcodeServerFailure, true)
	}
	w.stats.count(w.tcp, used.zoneSlot, q.Qtype, used.rcode, len(out), truncated)
	return out, used
}

// unpack reads req into m. A request not to be answered as a query gives
// ok false and what to send (nil for nothing), counted.
func (w *worker) unpack(req []byte, m *dns.Msg) (optAt [2]int, out []byte, ok bool) {
	verdict, optAt := checkWire(req)
	switch verdict {
	case wireDrop:
		w.stats.dropped.Add(1)
		return optAt, nil, false
	case wireFormErr:
		out := w.errorReply(req, nil, dns.RcodeFormatError, nil)
		w.stats.count(w.tcp, 0, 0, dns.RcodeFormatError, len(out), false)
		return optAt, out, false
	}
	if err := m.Unpack(req); err != nil {
		// RFC 1035 §4.1.1: FORMERR when we can tell who asked; a header
		// too short to read gets nothing.
		out := w.errorReply(req, nil, dns.RcodeFormatError, nil)
		if out == nil {
			w.stats.dropped.Add(1) // not even a header
			return optAt, nil, false
		}
		w.stats.count(w.tcp, 0, 0, dns.RcodeFormatError, len(out), false)
		return optAt, out, false
	}
	if m.Response {
		w.stats.dropped.Add(1) // never answer a response: no loops between servers
		return optAt, nil, false
	}
	return optAt, nil, true
}

// readEDNS reads m's OPT record (whose options are at optAt in req) into
// r: size, DO, client subnet, cookie (w.ck). A request it refuses gives an
// rcode other than NOERROR, and whether the error reply carries an OPT.
func (w *worker) readEDNS(snap *snapshot, req []byte, optAt [2]int, m *dns.Msg, src netip.AddrPort, now int64, r *reply) (opt *dns.OPT, rcode int, withOPT bool) {
	// EDNS (RFC 6891 §6.1.1): at most one OPT, owned by the root.
	for _, rr := range m.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			if opt != nil || o.Hdr.Name != "." {
				return nil, dns.RcodeFormatError, false
			}
			opt = o
		}
	}
	w.ck.state = cookieNone
	if opt == nil {
		return nil, dns.RcodeSuccess, false
	}
	r.edns, r.udpSize, r.do = true, opt.UDPSize(), opt.Do()
	if opt.Version() != ednsVersion {
		return opt, dns.RcodeBadVers, true
	}
	// Client subnet from the bytes sent: miekg/dns pads a short address
	// and drops bytes beyond it, which RFC 7871 §6 makes FORMERR.
	cookies := 0
	for opts := req[optAt[0] : optAt[0]+max(optAt[1], 0)]; len(opts) >= 4; {
		code, olen := binary.BigEndian.Uint16(opts), int(binary.BigEndian.Uint16(opts[2:]))
		if 4+olen > len(opts) {
			return opt, dns.RcodeFormatError, false
		}
		switch code {
		case optCodeECS:
			var ecs ecsOption
			if r.ecs != nil || !ecs.parse(opts[4:4+olen]) {
				return opt, dns.RcodeFormatError, false
			}
			r.ecs = &ecs
			r.client = ecs.client()
		case optCodeCookie:
			// RFC 7873 §5.2.2: a malformed cookie (or two) is FORMERR.
			if cookies++; cookies > 1 || !w.ck.eval(snap.cookies, opts[4:4+olen], src.Addr(), now, r.do) {
				w.ck.state = cookieNone
				return opt, dns.RcodeFormatError, true
			}
		}
		opts = opts[4+olen:]
	}
	r.cookie = w.ck.option()
	return opt, dns.RcodeSuccess, false
}

// refuseQuestion is the rcode for a query that asks no single question of
// class IN, NOERROR for one that does.
func refuseQuestion(m *dns.Msg) int {
	switch {
	case len(m.Question) != 1 || len(m.Answer) > 0 || len(m.Ns) > 0:
		return dns.RcodeFormatError
	case m.Question[0].Qclass != dns.ClassINET:
		return dns.RcodeRefused // CHAOS, HESIOD, ANY: no data here
	}
	return dns.RcodeSuccess
}

// answerQuestion looks q up in the zones, caches the answer when fast
// (the worker's key names the question) and worth keeping, and renders it
// for r.
func (w *worker) answerQuestion(snap *snapshot, q dns.Question, fast bool, now int64, r *reply) (out []byte, used *answer, truncated bool, err error) {
	qname := dns.CanonicalName(q.Name)
	key := ""
	if fast {
		key = string(w.key)
	}
	a, err := snap.resolve(qname, q.Qtype, key, resolveFull, r.do, now)
	if err != nil {
		return nil, nil, false, err
	}
	a.zoneSlot = w.srv.zoneSlots.slot(a.zone)
	if fast && (snap.ownName(a, qname) || snap.cache.again(a.key)) {
		snap.cache.put(a)
	}
	return w.respond(snap, a, r)
}

// ownName reports whether qname, which a answers, is a node of a's zone.
// Any other name — below a wildcard, a cut or a DNAME, nonexistent, or in
// no zone — can be made up anew for every query: its answers are cached
// only when asked for again (answerCache.again).
func (s *snapshot) ownName(a *answer, qname string) bool {
	z := s.zones.Zone(a.zone)
	return z != nil && z.Node(qname) != nil
}

// cookieRefusal answers a UDP query whose cookie does not let it have its
// answer: BADCOOKIE with a new server cookie to a query with a cookie (RFC
// 7873 §5.2.3, §5.2.4), which the client retries with; with
// require_cookie, TC to a query without one, which the client retries
// over TCP.
func (w *worker) cookieRefusal(req, question []byte, r *reply) []byte {
	qtype := uint16(0)
	if len(question) >= 4 {
		qtype = binary.BigEndian.Uint16(question[len(question)-4:])
	}
	if w.ck.state != cookieNone {
		out := w.errorReply(req, question, rcodeBadCookie, r)
		w.stats.count(w.tcp, 0, qtype, rcodeBadCookie, len(out), false)
		return out
	}
	out := w.errorReply(req, question, dns.RcodeSuccess, r)
	if out != nil {
		out[2] |= byte(flagTC >> 8)
	}
	w.stats.count(w.tcp, 0, qtype, dns.RcodeSuccess, len(out), true)
	return out
}

// respond renders a for r, or what stands in for it when a cannot be sent
// as it is: a pool with nothing to serve (when_all_down = "none") gets its
// NODATA answer; a response over r.limit loses its optional additional
// records, or is truncated. The stand-ins are built once and kept with a,
// so that the cached path neither resolves nor allocates for them. used is
// the answer sent.
func (w *worker) respond(snap *snapshot, a *answer, r *reply) (out []byte, used *answer, truncated bool, err error) {
	out, err = w.rd.render(a, r)
	if err == errNoMembers {
		if a, err = a.variant(snap, resolveNoPoolMembers, r.do, r.now); err != nil {
			return nil, a, false, err
		}
		out, err = w.rd.render(a, r)
	}
	if err == errTooBig {
		out, truncated = w.shrink(snap, a, r)
		err = nil
	}
	return out, a, truncated, err
}

// shrink makes a response that fits r.limit: without optional additional
// records when that is enough; a referral without glue and with TC set
// (RFC 9471); otherwise TC with the question alone, so that the resolver
// asks again over TCP (RFC 1035 §4.2.1, RFC 7766).
func (w *worker) shrink(snap *snapshot, a *answer, r *reply) ([]byte, bool) {
	if a.shrink != shrinkAll {
		if b, err := a.variant(snap, resolveNoAdditional, r.do, r.now); err == nil {
			if out, err := w.rd.render(b, r); err == nil {
				if a.shrink == shrinkGlue {
					out[2] |= byte(flagTC >> 8)
					return out, true
				}
				return out, false
			}
		}
	}
	out := append(w.rd.out[:0], a.wire[:headerLen]...)
	binary.BigEndian.PutUint16(out, r.id)
	out[2] |= byte(r.flags>>8)&byte(flagRD>>8) | byte(flagTC>>8)
	out[3] |= byte(r.flags) & byte(flagCD)
	binary.BigEndian.PutUint16(out[4:], 1)
	clear(out[6:headerLen])
	out = append(out, r.question...)
	if r.edns {
		out = appendOPT(out, r, 0, 0)
		binary.BigEndian.PutUint16(out[10:], 1)
	}
	w.rd.out = out[:0]
	return out, true
}

// errorReply is a response with rcode and no records but the question (if
// known) and OPT (when r is given). It copies the request's ID, opcode, RD
// and CD; a request too short for a header gets nil.
func (w *worker) errorReply(req, question []byte, rcode int, r *reply) []byte {
	if len(req) < headerLen || req[2]&0x80 != 0 {
		return nil
	}
	out := append(w.rd.out[:0], req[0], req[1], 0x80|req[2]&(byte(maskOpcode>>8)|byte(flagRD>>8)), req[3]&byte(flagCD)|byte(rcode&0xf), 0, 0, 0, 0, 0, 0, 0, 0)
	if question != nil {
		out[5] = 1
		out = append(out, question...)
	}
	if r != nil && r.edns {
		out = appendOPT(out, r, 0, uint8(rcode>>4))
		out[11] = 1
	}
	return out
}

// packQuestion returns the wire form of q, its name as asked.
func packQuestion(q dns.Question) []byte {
	buf := make([]byte, 255+4)
	off, err := dns.PackDomainName(q.Name, buf, 0, nil, false)
	if err != nil {
		return nil
	}
	binary.BigEndian.PutUint16(buf[off:], q.Qtype)
	binary.BigEndian.PutUint16(buf[off+2:], q.Qclass)
	return buf[:off+4]
}

// reflectorPort reports whether a datagram from port p must go unanswered:
// port 0 cannot be answered, and the small services that answer whatever
// they get — echo, daytime, quote of the day, chargen, time — would bounce
// our response back forever (BIND drops the same list, plus kpasswd's
// errors). Port 53 stays: resolvers may query from it.
func reflectorPort(p uint16) bool {
	switch p {
	case 0, 7, 13, 17, 19, 37, 123, 464:
		return true
	}
	return false
}

// rrlKey is the question without the DO mark (parseQuery): signed and
// unsigned answers to one question share a rate-limit bucket.
func rrlKey(key []byte, do bool) []byte {
	if do && len(key) > 0 {
		return key[:len(key)-1]
	}
	return key
}
