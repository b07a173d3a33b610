package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// duration is a TOML duration such as "2s" or "500ms". It keeps the text:
// a bad value is reported with its line beside every other problem, where
// an error from UnmarshalText would stop the decoder at the first one.
type duration struct {
	text string
	set  bool // written in the file
}

func (d *duration) UnmarshalText(b []byte) error {
	d.text, d.set = string(b), true
	return nil
}

// duration returns d, or def when it is not written (or not a duration,
// which is reported).
func (v *validator) duration(at string, d duration, def time.Duration) time.Duration {
	if !d.set {
		return def
	}
	x, err := time.ParseDuration(d.text)
	if err != nil {
		v.errorf(at, "%q is not a duration: write a number with a unit, e.g. \"2s\" or \"500ms\"", d.text)
		return def
	}
	return x
}

// positiveDuration is duration for keys that must be more than zero.
func (v *validator) positiveDuration(at string, d duration, def time.Duration) time.Duration {
	x := v.duration(at, d, def)
	if x <= 0 {
		v.errorf(at, "%v: use a positive duration, e.g. %q", x, def.String())
		return def
	}
	return x
}

// number returns *n, or def when the key is not written. A written value
// outside lo..hi is an error (0 included: a zero is never taken to mean
// "the default"); use says what is valid.
func (v *validator) number(at string, n *int, def, lo, hi int, use string) int {
	if n == nil {
		return def
	}
	if *n < lo || *n > hi {
		v.errorf(at, "%d: use %s", *n, use)
		return def
	}
	return *n
}

// parseHostPort accepts "addr:port", "[v6]:port" or a bare address (with
// defPort, when not 0). Host names are refused: a server binds addresses.
func parseHostPort(s string, defPort uint16) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil && defPort != 0 {
		return netip.AddrPortFrom(a, defPort), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("write address:port, e.g. \"127.0.0.1:5353\" or \"[::1]:5353\"")
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not an IP address (host names are not resolved)", host)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not a port: use 0-65535", port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
}
