package dnslb

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Defaults of the limits in [server].
const (
	defaultHTTPMaxConnections = 100
	defaultHTTPIdleTimeout    = 30 * time.Second
	defaultHTTPHeaderTimeout  = 5 * time.Second
	defaultZoneMaxBytes       = 512 << 20
	defaultZoneMaxRecords     = 5_000_000
	defaultReloadTimeout      = 60 * time.Second
)

// validateLimits applies the defaults of the HTTP side's and the loader's
// limits and checks them.
func (c *Config) validateLimits(v *validator) {
	s := &c.Server
	positiveInt(v, "server.http_max_connections", &s.HTTPMaxConnections, defaultHTTPMaxConnections)
	positiveDuration(v, "server.http_idle_timeout", &s.HTTPIdleTimeout, defaultHTTPIdleTimeout)
	positiveDuration(v, "server.http_header_timeout", &s.HTTPHeaderTimeout, defaultHTTPHeaderTimeout)
	positiveDuration(v, "server.reload_timeout", &s.ReloadTimeout, defaultReloadTimeout)
	if s.ZoneMaxBytes == 0 {
		s.ZoneMaxBytes = defaultZoneMaxBytes
	} else if s.ZoneMaxBytes < 0 {
		v.errorf("server.zone_max_bytes", "%d: use a positive number of bytes (default %d, 512 MiB)", s.ZoneMaxBytes, defaultZoneMaxBytes)
	}
	positiveInt(v, "server.zone_max_records", &s.ZoneMaxRecords, defaultZoneMaxRecords)
	for i, h := range s.HTTPHosts {
		at := fmt.Sprintf("server.http_hosts[%d]", i)
		if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
			s.HTTPHosts[i] = a.Unmap().String()
			continue
		}
		if _, ok := dns.IsDomainName(h); !ok || h == "" || strings.ContainsAny(h, ":/*") {
			v.errorf(at, "%q: write a host name or an address without a port, e.g. \"dnslb1.example.com\"", h)
			continue
		}
		s.HTTPHosts[i] = strings.ToLower(strings.TrimSuffix(h, "."))
	}
}
