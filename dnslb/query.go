package dnslb

import (
	"encoding/binary"
	"slices"

	"github.com/miekg/dns"
)

// query is what the fast path reads of a request without allocating.
type query struct {
	id       uint16
	flags    uint16 // header bytes 2-3 as sent
	qlen     int    // length of the question section: name + type + class
	qtype    uint16
	edns     bool
	udpSize  uint16 // requester's EDNS payload size (0 without EDNS)
	do       bool   // DNSSEC OK: echoed in our OPT
	ecs      ecsOption
	hasECS   bool
	optCount int
	// The COOKIE option's data (RFC 7873), as an offset into the request.
	hasCookie bool
	cookieOff int
	cookieLen int
}

// ecsOption is an EDNS Client Subnet option (RFC 7871) as sent.
type ecsOption struct {
	addrFamily   uint16 // IANA address family: 1 IPv4, 2 IPv6 (not a pool's family)
	sourcePrefix uint8
	addr         [16]byte
}

const (
	headerLen     = 12
	flagQR        = 0x8000
	flagAA        = 0x0400
	flagTC        = 0x0200
	flagRD        = 0x0100
	flagCD        = 0x0010
	maskOpcode    = 0x7800
	ednsVersion   = 0
	optCodeECS    = 8
	optCodeCookie = 10
)

// notPlain is 0 for the bytes of a lowercase hostname label (those a
// presentation-form name never escapes), 1 for every other.
var notPlain = func() (odd [256]byte) {
	for c := range 256 {
		odd[c] = 1
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			odd[c] = 0
		}
	}
	return odd
}()

const ones, high = 0x0101010101010101, 0x8080808080808080

// lowerWord lowers the ASCII capitals of eight bytes: each byte's low
// seven bits plus a constant sets its high bit when at least 'A' (ge) or
// more than 'Z' (gt), without carrying into the next; bytes over 127 stay.
func lowerWord(x uint64) uint64 {
	t := x &^ high
	ge := t + (0x80-'A')*ones
	gt := t + (0x80-'Z'-1)*ones
	return x | (ge&^gt&^x&high)>>2 // + 0x20
}

// plainWord reports whether eight lowercase bytes are all letters,
// digits, '-' or '_' (the same trick: range tests, and equality as a
// zero difference).
func plainWord(x uint64) bool {
	t := x &^ high
	az := (t + (0x80-'a')*ones) &^ (t + (0x80-'z'-1)*ones)
	digit := (t + (0x80-'0')*ones) &^ (t + (0x80-'9'-1)*ones)
	dash := ^((t ^ '-'*ones) + 0x7f*ones)
	under := ^((t ^ '_'*ones) + 0x7f*ones)
	return (az|digit|dash|under)&^x&high == high
}

// lowerInto appends src to dst with its ASCII capitals lowercased (RFC
// 4343), eight bytes at a time; length octets (at most 63) and bytes over
// 127 stay as they are.
func lowerInto(dst, src []byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, len(src))[:n+len(src)]
	out := dst[n:]
	if len(src) < 8 {
		for i, c := range src {
			if c-'A' < 26 {
				c += 'a' - 'A'
			}
			out[i] = c
		}
		return dst
	}
	for i := 0; i+8 <= len(src); i += 8 {
		binary.LittleEndian.PutUint64(out[i:], lowerWord(binary.LittleEndian.Uint64(src[i:])))
	}
	// The last bytes: one more word ending at the end (lowering twice
	// changes nothing).
	binary.LittleEndian.PutUint64(out[len(src)-8:], lowerWord(binary.LittleEndian.Uint64(src[len(src)-8:])))
	return dst
}

// plain reports whether label (lowercase) has only letters, digits, '-'
// and '_', so that its presentation form needs no escapes (synthesized
// answers).
func plain(label []byte) bool {
	if len(label) < 8 {
		odd := byte(0)
		for _, c := range label {
			odd |= notPlain[c]
		}
		return odd == 0
	}
	for i := 0; i+8 <= len(label); i += 8 {
		if !plainWord(binary.LittleEndian.Uint64(label[i:])) {
			return false
		}
	}
	return plainWord(binary.LittleEndian.Uint64(label[len(label)-8:]))
}

// parseQuery reads req when it has the plain shape the fast path serves: a
// QUERY with one IN-class question, no answer or authority records, at most
// one OPT (version 0) and nothing after it. key receives the lowercase
// question name and type, the cache key. ok is false for anything else,
// which the general path then judges.
func parseQuery(req []byte, q *query, key []byte) ([]byte, bool) {
	if len(req) < headerLen+5 {
		return key, false
	}
	q.id = binary.BigEndian.Uint16(req)
	q.flags = binary.BigEndian.Uint16(req[2:])
	if q.flags&(flagQR|maskOpcode|flagTC) != 0 ||
		binary.BigEndian.Uint16(req[4:]) != 1 || binary.BigEndian.Uint16(req[6:]) != 0 ||
		binary.BigEndian.Uint16(req[8:]) != 0 {
		return key, false
	}
	arcount := binary.BigEndian.Uint16(req[10:])
	if arcount > 1 {
		return key, false
	}
	// The name: uncompressed labels, copied into key at once and
	// lowercased there.
	off := headerLen
	for {
		if off >= len(req) {
			return key, false
		}
		l := int(req[off])
		if l == 0 {
			off++
			break
		}
		if l > 63 || off+1+l >= len(req) || off+1+l-headerLen > 254 {
			return key, false
		}
		off += 1 + l
	}
	key = lowerInto(key[:0], req[headerLen:off])
	if off+4 > len(req) || binary.BigEndian.Uint16(req[off+2:]) != dns.ClassINET {
		return key, false
	}
	q.qtype = binary.BigEndian.Uint16(req[off:])
	key = append(key, req[off], req[off+1])
	off += 4
	q.qlen = off - headerLen
	q.edns, q.udpSize, q.do, q.hasECS, q.hasCookie = false, 0, false, false, false
	if arcount == 1 {
		// OPT: root owner, type 41, class = payload size, TTL = ext-rcode,
		// version, flags; then options.
		if off+11 > len(req) || req[off] != 0 || binary.BigEndian.Uint16(req[off+1:]) != dns.TypeOPT || req[off+6] != ednsVersion {
			return key, false
		}
		q.edns = true
		q.udpSize = binary.BigEndian.Uint16(req[off+3:])
		q.do = req[off+7]&0x80 != 0
		rdlen := int(binary.BigEndian.Uint16(req[off+9:]))
		off += 11
		if off+rdlen != len(req) {
			return key, false
		}
		for opts := req[off : off+rdlen]; len(opts) > 0; {
			if len(opts) < 4 {
				return key, false
			}
			code, olen := binary.BigEndian.Uint16(opts), int(binary.BigEndian.Uint16(opts[2:]))
			if 4+olen > len(opts) {
				return key, false
			}
			if code == optCodeECS {
				if q.hasECS || !q.ecs.parse(opts[4:4+olen]) {
					return key, false // twice, or malformed: the general path answers FORMERR
				}
				q.hasECS = true
			}
			if code == optCodeCookie {
				if q.hasCookie {
					return key, false // twice: the general path answers FORMERR
				}
				q.hasCookie, q.cookieOff, q.cookieLen = true, len(req)-len(opts)+4, olen
			}
			opts = opts[4+olen:]
		}
		off += rdlen
		if q.do {
			// DO=1 answers are signed where a zone is: cached apart. No
			// plain key ends this way (a name's root label is followed by
			// exactly two type octets).
			key = append(key, 'D')
		}
	}
	return key, off == len(req)
}

// parse reads an ECS option's data (RFC 7871 §6): FAMILY, SOURCE PREFIX,
// SCOPE PREFIX (must be 0 in queries), ADDRESS truncated to the prefix.
func (e *ecsOption) parse(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	e.addrFamily, e.sourcePrefix = binary.BigEndian.Uint16(b), b[2]
	max := 32
	if e.addrFamily == 2 {
		max = 128
	} else if e.addrFamily != 1 {
		return false
	}
	addr := b[4:]
	if b[3] != 0 || int(e.sourcePrefix) > max || len(addr) != (int(e.sourcePrefix)+7)/8 {
		return false
	}
	e.addr = [16]byte{}
	copy(e.addr[:], addr)
	// Bits beyond the source prefix must be zero (RFC 7871 §6).
	if r := e.sourcePrefix % 8; r != 0 && addr[len(addr)-1]&(0xff>>r) != 0 {
		return false
	}
	return true
}
