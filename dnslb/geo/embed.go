package geo

import "net/netip"

// space is a part of the IPv6 space whose addresses embed an IPv4 address
// (RFC 4291 v4-mapped and v4-compatible, RFC 3056 6to4, RFC 4380 Teredo).
// Their clients are located by that IPv4 address, as gdnsd's geoip plugin
// does: rules for IPv6 networks do not apply inside them, and the compiled
// IPv6 table holds each as a range of its own, so that no IPv6 scope
// spans one.
type space struct {
	name   string
	prefix netip.Prefix
	bits   int  // prefix length of the space
	at     int  // where the IPv4 address begins, in bits
	invert bool // Teredo stores the client's address inverted
	first  u128 // the space's first address
	last   u128 // and its last
}

var spaces = func() []*space {
	var out []*space
	for _, s := range []struct {
		name, prefix string
		at           int
		invert       bool
	}{
		{"IPv4-compatible", "::/96", 96, false},
		{"IPv4-mapped", "::ffff:0:0/96", 96, false},
		{"Teredo", "2001::/32", 96, true},
		{"6to4", "2002::/16", 16, false},
	} {
		p := netip.MustParsePrefix(s.prefix)
		first, last := prefixRange(p)
		sp := &space{name: s.name, prefix: p, bits: p.Bits(), at: s.at, invert: s.invert, first: first, last: last}
		out = append(out, sp)
	}
	return out
}()

// embeds returns the space holding k, or nil.
func embeds(k u128) *space {
	switch {
	case k.hi == 0: // ::/64: v4-compatible or v4-mapped, or neither
		switch k.lo >> 32 {
		case 0:
			return spaces[0]
		case 0xffff:
			return spaces[1]
		}
		return nil
	case k.hi>>32 == 0x20010000:
		return spaces[2]
	case k.hi>>48 == 0x2002:
		return spaces[3]
	}
	return nil
}

// v4 returns the IPv4 address embedded in k, an address of s.
func (s *space) v4(k u128) uint32 {
	var a uint32
	if s.at >= 64 {
		a = uint32(k.lo >> (128 - 32 - s.at))
	} else {
		a = uint32(k.hi >> (64 - 32 - s.at))
	}
	if s.invert {
		a = ^a
	}
	return a
}

// addr is v4 as an address.
func (s *space) addr(k u128) netip.Addr {
	a := s.v4(k)
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

// Embedded returns the IPv4 address an IPv6 address stands for when it
// lies in a space that embeds one, and the name of that space.
func Embedded(a netip.Addr) (netip.Addr, string, bool) {
	if !a.Is6() {
		return netip.Addr{}, "", false
	}
	k := addrKey(a)
	s := embeds(k)
	if s == nil {
		return netip.Addr{}, "", false
	}
	return s.addr(k), s.name + " " + s.prefix.String(), true
}
