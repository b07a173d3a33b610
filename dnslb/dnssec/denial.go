package dnssec

import (
	"slices"

	"github.com/miekg/dns"
)

// TypeNXNAME marks a name that does not exist in a compact denial's NSEC
// type bitmap (RFC 9824 §3.2).
const TypeNXNAME = 128

// NSEC is the compact denial record at name (RFC 9824 §3): the next name is
// name's immediate successor ("\000.name"), so it covers nothing else, and
// the bitmap lists types plus NSEC and RRSIG. For NODATA, types are those
// the name has; for a name that does not exist, types is {TypeNXNAME}.
func NSEC(name string, types []uint16, ttl uint32) *dns.NSEC {
	bm := append(slices.Clone(types), dns.TypeRRSIG, dns.TypeNSEC)
	slices.Sort(bm)
	bm = slices.Compact(bm)
	return &dns.NSEC{
		Hdr:        dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: `\000.` + name,
		TypeBitMap: bm,
	}
}

// Cover is a minimally covering NSEC for name (RFC 4470 §3.1.2): from just
// before name to just after name and all names below it. A wildcard answer
// carries it to prove that the next closer name does not exist (RFC 4035
// §3.1.3.3). name must be below the zone's apex. It is nil for a name
// whose first label is one \000 octet: nothing lies between it and its
// parent to name the NSEC by.
func Cover(name string, ttl uint32) *dns.NSEC {
	before := epsilon(name, -1)
	if before == "" {
		return nil
	}
	return &dns.NSEC{
		Hdr:        dns.RR_Header{Name: before, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: epsilon(name, +1),
		TypeBitMap: []uint16{dns.TypeRRSIG, dns.TypeNSEC},
	}
}

// epsilon returns a name that sorts just before (dir < 0) or just after
// every name at or below name, changing its first label only: the label's
// last octet decremented and padded with \255 (or a last \000 dropped), or
// \000 appended. "" when there is no such name before it.
func epsilon(name string, dir int) string {
	wire := make([]byte, 256)
	n, err := dns.PackDomainName(dns.CanonicalName(name), wire, 0, nil, false)
	if err != nil || n < 2 {
		return name
	}
	l := int(wire[0])
	label := slices.Clone(wire[1 : 1+l])
	rest := wire[1+l : n]
	room := 255 - len(rest) - 1 // octets left for the first label and its length
	if dir > 0 {
		if len(label) < 63 && len(label) < room {
			label = append(label, 0)
		} else {
			label[len(label)-1]++ // a rare 63-octet label; \255 stays rare enough to ignore
		}
	} else {
		last := &label[len(label)-1]
		if *last == 0 {
			// "a\000" follows "a" and the names below it: no padding.
			label = label[:len(label)-1]
			if len(label) == 0 {
				return "" // "\000.parent" follows its parent at once
			}
		} else {
			*last--
			if *last >= 'A' && *last <= 'Z' {
				*last = '@' // canonical order compares lowercase: stay below the original
			}
			for len(label) < 63 && len(label) < room {
				label = append(label, 0xff)
			}
		}
	}
	out := append([]byte{byte(len(label))}, label...)
	out = append(out, rest...)
	s, _, err := dns.UnpackDomainName(out, 0)
	if err != nil {
		return name
	}
	return s
}
