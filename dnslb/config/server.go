package config

import (
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/dnslb/dnslb/dnslb/cookie"
)

// serverTOML is [server].
type serverTOML struct {
	Listen            []string `toml:"listen"`              // default ["127.0.0.1:5353"]; UDP and TCP on each
	HTTP              *string  `toml:"http"`                // default "127.0.0.1:8053"; "" turns the HTTP side off
	AdminTokenFile    string   `toml:"admin_token_file"`    // default none: mutating API calls are refused
	StateFile         string   `toml:"state_file"`          // default none: overrides live in memory only
	UDPSize           *int     `toml:"udp_size"`            // default 1232: largest UDP response we send
	Workers           *int     `toml:"workers"`             // default 0 = one UDP socket per CPU (runtime.NumCPU) on each address
	UDPCoalesce       duration `toml:"udp_coalesce"`        // default 50us: under load, how long queries gather before the next read; "0s" = off
	TCPIdleTimeout    duration `toml:"tcp_idle_timeout"`    // default 10s between queries on a TCP connection
	TCPReadTimeout    duration `toml:"tcp_read_timeout"`    // default 5s to read one query once it has begun
	TCPMaxConnections *int     `toml:"tcp_max_connections"` // default 1000 open TCP connections in all
	TCPMaxQueries     *int     `toml:"tcp_max_queries"`     // default 10000 queries per connection, then it is closed
	HealthConcurrency *int     `toml:"health_concurrency"`  // default 256 probes in flight at once
	CookieSecretFile  string   `toml:"cookie_secret_file"`  // default none: a random secret per process, so each instance accepts only its own cookies
	RequireCookie     bool     `toml:"require_cookie"`      // default false: UDP queries without a valid server cookie are answered too

	// Limits of the HTTP side and of loading (limits.go).
	HTTPMaxConnections *int     `toml:"http_max_connections"` // default 100 open HTTP connections; idle ones make room for new ones
	HTTPIdleTimeout    duration `toml:"http_idle_timeout"`    // default 30s: a keep-alive connection idle this long is closed
	HTTPHeaderTimeout  duration `toml:"http_header_timeout"`  // default 5s to read a request's headers
	HTTPHosts          []string `toml:"http_hosts"`           // default none: Host names accepted beside the http address (and localhost on loopback)
	ZoneMaxBytes       *int64   `toml:"zone_max_bytes"`       // default 512 MiB: a zone's file and its $INCLUDEs together
	ZoneMaxRecords     *int     `toml:"zone_max_records"`     // default 5,000,000 records in one zone
	ReloadTimeout      duration `toml:"reload_timeout"`       // default 60s to read and build a config; then it fails and the old one serves
}

// Server is [server], checked.
type Server struct {
	Listen            []netip.AddrPort // UDP and TCP on each; a wildcard only where the server replies from each query's destination (Linux)
	HTTP              netip.AddrPort   // the HTTP side; not valid (IsValid false) = off
	AdminTokenFile    string           // resolved against the config's folder; "" = mutating calls refused
	StateFile         string           // resolved; "" = overrides in memory only
	UDPSize           int
	Workers           int           // 0 = one per CPU
	UDPCoalesce       time.Duration // 0 = read again at once
	TCPIdleTimeout    time.Duration
	TCPReadTimeout    time.Duration
	TCPMaxConnections int
	TCPMaxQueries     int
	HealthConcurrency int
	CookieSecretFile  string          // resolved; "" = a random secret per process
	CookieSecrets     *cookie.Secrets // read from CookieSecretFile; nil = a random secret per process
	RequireCookie     bool            // UDP answers only to a valid server cookie: BADCOOKIE to other cookies, TC without one

	HTTPMaxConnections int
	HTTPIdleTimeout    time.Duration
	HTTPHeaderTimeout  time.Duration
	HTTPHosts          []string // lowercase names without the final dot, and addresses
	ZoneMaxBytes       int64
	ZoneMaxRecords     int
	ReloadTimeout      time.Duration
}

// udp_coalesce: its default, and the most a query may be kept waiting.
const (
	DefaultUDPCoalesce = 50 * time.Microsecond
	MaxUDPCoalesce     = time.Millisecond
)

const (
	defaultListen = "127.0.0.1:5353"
	defaultHTTP   = "127.0.0.1:8053"
)

func (t *serverTOML) build(v *validator, c *Config) Server {
	s := Server{
		UDPSize:           v.number("server.udp_size", t.UDPSize, 1232, 512, 65535, "512-65535 (1232 avoids IP fragmentation)"),
		Workers:           v.number("server.workers", t.Workers, 0, 0, 1024, "0 (one per CPU) to 1024"),
		TCPIdleTimeout:    v.positiveDuration("server.tcp_idle_timeout", t.TCPIdleTimeout, 10*time.Second),
		TCPReadTimeout:    v.positiveDuration("server.tcp_read_timeout", t.TCPReadTimeout, 5*time.Second),
		TCPMaxConnections: v.number("server.tcp_max_connections", t.TCPMaxConnections, 1000, 1, math.MaxInt32, "a positive number (default 1000)"),
		TCPMaxQueries:     v.number("server.tcp_max_queries", t.TCPMaxQueries, 10000, 1, math.MaxInt32, "a positive number (default 10000)"),
		HealthConcurrency: v.number("server.health_concurrency", t.HealthConcurrency, 256, 1, math.MaxInt32, "a positive number (default 256)"),
		AdminTokenFile:    c.Path(t.AdminTokenFile),
		StateFile:         c.Path(t.StateFile),
	}
	s.UDPCoalesce = v.duration("server.udp_coalesce", t.UDPCoalesce, DefaultUDPCoalesce)
	if s.UDPCoalesce < 0 || s.UDPCoalesce > MaxUDPCoalesce {
		v.errorf("server.udp_coalesce", "%v: use 0s (off) to %v, e.g. %q", s.UDPCoalesce, MaxUDPCoalesce, "50us")
		s.UDPCoalesce = DefaultUDPCoalesce
	}
	t.limits(v, &s)
	s.Listen = t.listen(v)
	http := defaultHTTP
	if t.HTTP != nil {
		http = *t.HTTP
	}
	if http != "" {
		ap, err := parseHostPort(http, 0)
		switch {
		case err != nil:
			v.errorf("server.http", "%q: %v (or \"\" to turn the HTTP side off)", http, err)
		case !ap.Addr().IsLoopback() && s.AdminTokenFile == "":
			v.errorf("server.http", "%s is reachable from other hosts: set admin_token_file, or listen on 127.0.0.1", ap)
		default:
			s.HTTP = ap
		}
	}
	if s.AdminTokenFile != "" {
		if tok, err := ReadToken(s.AdminTokenFile); err != nil {
			v.errorf("server.admin_token_file", "%v", err)
		} else if len(tok) < 16 {
			v.errorf("server.admin_token_file", "%s holds a token of %d characters: use at least 16 (e.g. head -c 32 /dev/urandom | base64)", s.AdminTokenFile, len(tok))
		}
	}
	s.RequireCookie = t.RequireCookie
	if t.CookieSecretFile != "" {
		s.CookieSecretFile = c.Path(t.CookieSecretFile)
		if secrets, err := ReadCookieSecrets(s.CookieSecretFile); err != nil {
			v.errorf("server.cookie_secret_file", "%v", err)
		} else {
			s.CookieSecrets = &secrets
		}
	}
	return s
}

// ReadCookieSecrets reads a DNS cookie secret file: the current secret and
// optionally the previous one, each 32 hex digits on a line of its own.
func ReadCookieSecrets(path string) (cookie.Secrets, error) {
	b, err := readSmallFile(path, 4096)
	if err != nil {
		return cookie.Secrets{}, fmt.Errorf("cookie secrets: %w", err)
	}
	s, err := cookie.ParseSecrets(string(b))
	if err != nil {
		return cookie.Secrets{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func (t *serverTOML) listen(v *validator) []netip.AddrPort {
	listen := t.Listen
	if len(listen) == 0 {
		listen = []string{defaultListen}
	}
	var out []netip.AddrPort
	seen := map[netip.AddrPort]bool{}
	for i, l := range listen {
		at := fmt.Sprintf("server.listen[%d]", i)
		ap, err := parseHostPort(l, 53)
		switch {
		case err != nil:
			v.errorf(at, "%q: %v", l, err)
		case ap.Addr().IsUnspecified() && !wildcardListen:
			// A reply must leave from the address the query was sent to;
			// without packet info a wildcard socket would let the kernel
			// pick another one on a host with several addresses.
			v.errorf(at, "%q: list the host's addresses instead of a wildcard, e.g. [\"192.0.2.53:53\", \"[2001:db8::53]:53\"]", l)
		case seen[ap]:
			v.errorf(at, "%s is listed twice", ap)
		default:
			seen[ap] = true
			out = append(out, ap)
		}
	}
	return out
}

// ReadToken reads the admin token: the first line of a regular file, read
// no further than 4 KiB (a device or a FIFO named by mistake must not
// hang or exhaust the server).
func ReadToken(path string) (string, error) {
	b, err := readSmallFile(path, 4096)
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

// readSmallFile reads at most limit bytes of the regular file at path. It
// opens without waiting for a writer and checks the type of what it
// opened, so that a FIFO (even one swapped in after a check) never blocks.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}
