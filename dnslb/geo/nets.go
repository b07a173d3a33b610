package geo

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// ParseNets reads a nets file: one "CIDR dc1 dc2 ..." per line, best
// datacenter first; blank lines and text after '#' are ignored. A later
// line for the same network replaces an earlier one. file names the source
// in errors, which are *Error values with its line.
func ParseNets(file string, src []byte) ([]Net, error) {
	var nets []Net
	for n := 1; len(src) > 0; n++ {
		var line []byte
		line, src, _ = bytes.Cut(src, []byte{'\n'})
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(string(line))
		if len(fields) == 0 {
			continue
		}
		p, err := ParsePrefix(fields[0])
		if err != nil {
			return nil, &Error{File: file, Line: n, Msg: err.Error()}
		}
		if len(fields) == 1 {
			return nil, &Error{File: file, Line: n, Msg: fmt.Sprintf("%s: name at least one datacenter after the network, e.g. \"%s ams iad\"", fields[0], fields[0])}
		}
		for i, dc := range fields[1:] {
			if strings.ContainsAny(dc, "/\"") {
				return nil, &Error{File: file, Line: n, Msg: fmt.Sprintf("%q is not a datacenter name: use letters, digits, '-', '_' or '.'", dc)}
			}
			for _, prev := range fields[1 : 1+i] {
				if prev == dc {
					return nil, &Error{File: file, Line: n, Msg: fmt.Sprintf("%q is listed twice", dc)}
				}
			}
		}
		nets = append(nets, Net{Prefix: p, List: fields[1:], File: file, Line: n})
	}
	return nets, nil
}

// ParsePrefix reads a network in CIDR notation. Host bits must be zero, so
// that a typo cannot widen a rule unnoticed.
func ParsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a network: write CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32", s)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set: did you mean %s?", s, p.Masked())
	}
	return p, nil
}
