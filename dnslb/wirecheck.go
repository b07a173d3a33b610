package dnslb

import "encoding/binary"

// What checkWire makes of a request.
const (
	wireOK      = iota
	wireDrop    // not a DNS query: say nothing, so that no two services can bounce datagrams between them
	wireFormErr // a query whose sections are not what its header says
)

// checkWire walks a request before the general path parses it, holding it
// to what miekg/dns lets pass: header counts that the message matches
// exactly, no bytes after the last record, and compression pointers that
// point backwards to earlier names, never into the header (RFC 1035
// §4.1.4). A datagram that cannot be a DNS query at all — a response, an
// unassigned opcode, counts that no 64 KiB message could hold (what any
// ASCII text looks like) — is dropped rather than answered with FORMERR,
// as Knot does; RFC 1035 §4.1.1 asks for FORMERR only where the server
// could interpret the query. opt is the offset and length of the first OPT
// record's RDATA (opt[1] < 0: none).
func checkWire(req []byte) (verdict int, opt [2]int) {
	opt = [2]int{0, -1}
	if len(req) < headerLen || req[2]&0x80 != 0 {
		return wireDrop, opt
	}
	switch (req[2] >> 3) & 0xf {
	case 0, 1, 2, 4, 5, 6: // QUERY, IQUERY, STATUS, NOTIFY, UPDATE, DSO
	default:
		return wireDrop, opt
	}
	qd := int(binary.BigEndian.Uint16(req[4:]))
	rrs := int(binary.BigEndian.Uint16(req[6:])) + int(binary.BigEndian.Uint16(req[8:])) + int(binary.BigEndian.Uint16(req[10:]))
	if headerLen+qd*5+rrs*11 > 65535 {
		return wireDrop, opt // a question takes 5 bytes at least, a record 11
	}
	ar := rrs - int(binary.BigEndian.Uint16(req[10:]))
	off := headerLen
	for range qd {
		if off = skipWireName(req, off); off < 0 || off+4 > len(req) {
			return wireFormErr, opt
		}
		off += 4
	}
	for i := range rrs {
		if off = skipWireName(req, off); off < 0 || off+10 > len(req) {
			return wireFormErr, opt
		}
		rdlen := int(binary.BigEndian.Uint16(req[off+8:]))
		if off+10+rdlen > len(req) {
			return wireFormErr, opt
		}
		if i >= ar && opt[1] < 0 && binary.BigEndian.Uint16(req[off:]) == 41 {
			opt = [2]int{off + 10, rdlen}
		}
		off += 10 + rdlen
	}
	if off != len(req) {
		return wireFormErr, opt
	}
	return wireOK, opt
}

// skipWireName returns the offset after the name at off, or -1 when the
// name is malformed: a label over 63 bytes, a name over 255, a reserved
// label type, or a pointer that does not point strictly backwards to a
// place after the header.
func skipWireName(msg []byte, off int) int {
	end := -1 // where the name ends in place, once a pointer is followed
	size := 0
	for limit := off; ; {
		if off >= len(msg) {
			return -1
		}
		l := int(msg[off])
		switch l & 0xC0 {
		case 0x00:
			if l == 0 {
				if end < 0 {
					end = off + 1
				}
				return end
			}
			if size += l + 1; size > 254 || off+1+l > len(msg) {
				return -1
			}
			off += 1 + l
		case 0xC0:
			if off+2 > len(msg) {
				return -1
			}
			target := int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
			if target < headerLen || target >= limit {
				return -1
			}
			if end < 0 {
				end = off + 2
			}
			off, limit = target, target
		default:
			return -1
		}
	}
}
