package config

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Defaults of the limits in [server].
const (
	DefaultReloadTimeout = 60 * time.Second
	defaultZoneMaxBytes  = 512 << 20
)

// limits checks the limits of the HTTP side and of loading into s.
func (t *serverTOML) limits(v *validator, s *Server) {
	s.HTTPMaxConnections = v.number("server.http_max_connections", t.HTTPMaxConnections, 100, 1, math.MaxInt32, "a positive number (default 100)")
	s.HTTPIdleTimeout = v.positiveDuration("server.http_idle_timeout", t.HTTPIdleTimeout, 30*time.Second)
	s.HTTPHeaderTimeout = v.positiveDuration("server.http_header_timeout", t.HTTPHeaderTimeout, 5*time.Second)
	s.ReloadTimeout = v.positiveDuration("server.reload_timeout", t.ReloadTimeout, DefaultReloadTimeout)
	s.ZoneMaxRecords = v.number("server.zone_max_records", t.ZoneMaxRecords, 5_000_000, 1, math.MaxInt32, "a positive number (default 5000000)")
	s.ZoneMaxBytes = defaultZoneMaxBytes
	if t.ZoneMaxBytes != nil {
		if *t.ZoneMaxBytes < 1 {
			v.errorf("server.zone_max_bytes", "%d: use a positive number of bytes (default %d, 512 MiB)", *t.ZoneMaxBytes, defaultZoneMaxBytes)
		} else {
			s.ZoneMaxBytes = *t.ZoneMaxBytes
		}
	}
	for i, h := range t.HTTPHosts {
		at := fmt.Sprintf("server.http_hosts[%d]", i)
		if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
			s.HTTPHosts = append(s.HTTPHosts, a.Unmap().String())
			continue
		}
		if _, ok := dns.IsDomainName(h); !ok || h == "" || strings.ContainsAny(h, ":/*") {
			v.errorf(at, "%q: write a host name or an address without a port, e.g. \"dnslb1.example.com\"", h)
			continue
		}
		s.HTTPHosts = append(s.HTTPHosts, strings.ToLower(strings.TrimSuffix(h, ".")))
	}
}
