package dnslb

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/zones"
)

const (
	defaultListen = "127.0.0.1:5353"
	defaultHTTP   = "127.0.0.1:8053"
)

func (c *Config) validateServer(v *validator) {
	s := &c.Server
	if len(s.Listen) == 0 {
		s.Listen = []string{defaultListen}
	}
	seen := map[string]bool{}
	for i, l := range s.Listen {
		at := fmt.Sprintf("server.listen[%d]", i)
		ap, err := parseHostPort(l, 53)
		if err != nil {
			v.errorf(at, "%q: %v", l, err)
			continue
		}
		if ap.Addr().IsUnspecified() {
			// A reply must leave from the address the query was sent to;
			// a wildcard socket would let the kernel pick another one on a
			// host with several addresses.
			v.errorf(at, "%q: list the host's addresses instead of a wildcard, e.g. [\"192.0.2.53:53\", \"[2001:db8::53]:53\"]", l)
			continue
		}
		if seen[ap.String()] {
			v.errorf(at, "%s is listed twice", ap)
		}
		seen[ap.String()] = true
		s.listen = append(s.listen, ap.String())
	}
	s.http = defaultHTTP
	if s.HTTP != nil {
		s.http = *s.HTTP
	}
	if s.http != "" {
		ap, err := parseHostPort(s.http, 0)
		switch {
		case err != nil:
			v.errorf("server.http", "%q: %v (or \"\" to turn the HTTP side off)", s.http, err)
		case !ap.Addr().IsLoopback() && s.AdminTokenFile == "":
			v.errorf("server.http", "%s is reachable from other hosts: set admin_token_file, or listen on 127.0.0.1", ap)
		default:
			s.http = ap.String()
		}
	}
	if s.AdminTokenFile != "" {
		s.AdminTokenFile = c.path(s.AdminTokenFile)
		if tok, err := readToken(s.AdminTokenFile); err != nil {
			v.errorf("server.admin_token_file", "%v", err)
		} else if len(tok) < 16 {
			v.errorf("server.admin_token_file", "%s holds a token of %d characters: use at least 16 (e.g. head -c 32 /dev/urandom | base64)", s.AdminTokenFile, len(tok))
		}
	}
	if s.StateFile != "" {
		s.StateFile = c.path(s.StateFile)
	}
	if s.UDPSize == 0 {
		s.UDPSize = 1232
	} else if s.UDPSize < 512 || s.UDPSize > 65535 {
		v.errorf("server.udp_size", "%d: use 512-65535 (1232 avoids IP fragmentation)", s.UDPSize)
	}
	if s.Workers < 0 || s.Workers > 1024 {
		v.errorf("server.workers", "%d: use 0 (one per CPU) to 1024", s.Workers)
	}
	positiveDuration(v, "server.tcp_idle_timeout", &s.TCPIdleTimeout, 10*time.Second)
	positiveDuration(v, "server.tcp_read_timeout", &s.TCPReadTimeout, 5*time.Second)
	positiveInt(v, "server.tcp_max_connections", &s.TCPMaxConnections, 1000)
	positiveInt(v, "server.tcp_max_queries", &s.TCPMaxQueries, 10000)
	positiveInt(v, "server.health_concurrency", &s.HealthConcurrency, 256)
	c.validateLimits(v)
}

func positiveDuration(v *validator, at string, d *Duration, def time.Duration) {
	if !d.Set {
		d.Duration = def
	} else if d.Duration <= 0 {
		v.errorf(at, "%v: use a positive duration, e.g. %q", d.Duration, def.String())
	}
}

func positiveInt(v *validator, at string, n *int, def int) {
	if *n == 0 {
		*n = def
	} else if *n < 0 {
		v.errorf(at, "%d: use a positive number (default %d)", *n, def)
	}
}

// parseHostPort accepts "addr:port", "[v6]:port" or a bare address (with
// defPort). Host names are refused: a server binds addresses.
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

func (c *Config) validateLog(v *validator) {
	l := &c.Log
	switch l.Format {
	case "":
		l.Format = "text"
	case "text", "json":
	default:
		v.errorf("log.format", "%q: use \"text\" or \"json\"", l.Format)
	}
	switch l.Level {
	case "":
		l.Level = "info"
	case "debug", "info", "warn", "error":
	default:
		v.errorf("log.level", "%q: use debug, info, warn or error", l.Level)
	}
	if l.QuerySample == 0 {
		l.QuerySample = 1
	} else if l.QuerySample < 0 || l.QuerySample > 1 {
		v.errorf("log.query_sample", "%v: use a fraction between 0 and 1, e.g. 0.01", l.QuerySample)
	}
}

func (c *Config) validateRRL(v *validator) {
	r := &c.RRL
	if r.ResponsesPerSecond < 0 {
		v.errorf("rrl.responses_per_second", "%d: use 0 (off) or more", r.ResponsesPerSecond)
	}
	if r.Slip == 0 {
		r.Slip = 2
	} else if r.Slip < 0 || r.Slip > 10 {
		v.errorf("rrl.slip", "%d: use 1 (every limited response truncated) to 10, default 2", r.Slip)
	}
	if r.IPv4Prefix == 0 {
		r.IPv4Prefix = 24
	} else if r.IPv4Prefix < 8 || r.IPv4Prefix > 32 {
		v.errorf("rrl.ipv4_prefix", "%d: use 8-32", r.IPv4Prefix)
	}
	if r.IPv6Prefix == 0 {
		r.IPv6Prefix = 56
	} else if r.IPv6Prefix < 16 || r.IPv6Prefix > 128 {
		v.errorf("rrl.ipv6_prefix", "%d: use 16-128", r.IPv6Prefix)
	}
	if r.Window == 0 {
		r.Window = 15
	} else if r.Window < 1 || r.Window > 3600 {
		v.errorf("rrl.window", "%d: use 1-3600 seconds", r.Window)
	}
	for i, e := range r.Exempt {
		if _, err := netip.ParsePrefix(e); err != nil {
			v.errorf(fmt.Sprintf("rrl.exempt[%d]", i), "%q is not a prefix: write e.g. \"192.0.2.0/24\"", e)
		}
	}
}

func (c *Config) validateZones(v *validator) {
	if len(c.Zones) == 0 {
		v.errorf("zone", "no [[zone]]: add one with origin and file or records")
	}
	seen := map[string]bool{}
	for i := range c.Zones {
		z := &c.Zones[i]
		at := fmt.Sprintf("zone[%d]", i)
		if z.Origin == "" {
			v.errorf(at, "origin is required, e.g. origin = \"lb.example.com.\"")
			continue
		}
		if _, ok := dns.IsDomainName(z.Origin); !ok {
			v.errorf(at+".origin", "%q is not a domain name", z.Origin)
			continue
		}
		o := dns.CanonicalName(z.Origin)
		if seen[o] {
			v.errorf(at+".origin", "zone %s is defined twice", o)
		}
		seen[o] = true
		if z.File == "" && len(z.Records) == 0 {
			v.errorf(at, "zone %s has no data: set file = \"zones/%szone\" or records = [...]", o, o)
		}
	}
}

// readToken reads the admin token: the first line of a regular file, read
// no further than 4 KiB (a device or a FIFO named by mistake must not
// hang or exhaust the server).
func readToken(path string) (string, error) {
	b, err := zones.ReadFile(path, 4096)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b = b[:i]
			break
		}
	}
	return string(b), nil
}
