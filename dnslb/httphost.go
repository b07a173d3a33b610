package dnslb

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/dnslb/dnslb/dnslb/config"
)

// checkHost refuses requests whose Host is not one this server is known by:
// a page elsewhere that rebinds its own name to this address (DNS
// rebinding) would otherwise read the status and metrics through the
// victim's browser. Accepted: the http address itself (any address when it
// is a wildcard), localhost when it is a loopback address, and the names
// in [server] http_hosts.
func (s *Server) checkHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(&s.snap.Load().cfg.Server, r.Host) {
			http.Error(w, "this Host is not served here: use the http address, or list the name in [server] http_hosts", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether a request's Host header names this server.
func hostAllowed(c *config.Server, host string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.ToLower(strings.TrimSuffix(strings.Trim(name, "[]"), "."))
	if name == "" {
		return false
	}
	bind := c.HTTP.Addr()
	if a, err := netip.ParseAddr(name); err == nil {
		// An address cannot be rebound; it must still be ours.
		a = a.Unmap()
		if a == bind || bind.IsUnspecified() {
			return true
		}
		name = a.String()
	} else if bind.IsLoopback() && name == "localhost" {
		return true
	}
	return slices.Contains(c.HTTPHosts, name)
}
