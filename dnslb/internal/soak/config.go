package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Names the soak serves and asks for.
const (
	zoneOrigin = "lb.soak."
	poolName   = "www.lb.soak."
	markerName = "version.lb.soak." // its address tells which variant is loaded
	checkPath  = "/healthz"
)

// setup is what the soak chose: where everything listens and the health
// check's timing, from which the detection bounds follow.
type setup struct {
	dir         string
	cfgPath     string
	tokenPath   string
	token       string
	dnsAddr     netip.AddrPort // UDP and TCP
	httpAddr    netip.AddrPort
	members     [4]netip.Addr // the pool's members, one backend each
	backendPort uint16
	interval    time.Duration
	timeout     time.Duration
	fall, rise  int
	ttl         int
}

// newSetup picks free loopback ports for dnslb and writes the admin token.
// The backends' port is chosen by startBackends, which binds it.
func newSetup(dir string) (*setup, error) {
	s := &setup{
		dir:       dir,
		cfgPath:   filepath.Join(dir, "dnslb.toml"),
		tokenPath: filepath.Join(dir, "admin.token"),
		interval:  time.Second,
		timeout:   500 * time.Millisecond,
		fall:      2,
		rise:      2,
		ttl:       10,
	}
	for i := range s.members {
		s.members[i] = netip.AddrFrom4([4]byte{127, 0, 9, byte(i + 1)})
	}
	lo := netip.MustParseAddr("127.0.0.1")
	port, err := freeDNSPort(lo)
	if err != nil {
		return nil, err
	}
	s.dnsAddr = netip.AddrPortFrom(lo, port)
	hp, err := freeTCPPort(lo, port)
	if err != nil {
		return nil, err
	}
	s.httpAddr = netip.AddrPortFrom(lo, hp)
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	s.token = base64.RawURLEncoding.EncodeToString(b)
	if err := os.WriteFile(s.tokenPath, []byte(s.token+"\n"), 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

// detection is how long a stopped backend may still be served: fall failed
// probes one interval apart, the last bounded by the timeout, plus one
// interval of margin. The prober jitters each interval by up to ±10% (0.2 s
// over two intervals) and its scheduler and the query path share two busy
// cores with dnsperf; an answer served later than this is stale.
func (s *setup) detection() time.Duration {
	return time.Duration(s.fall)*s.interval + s.timeout + s.interval
}

// riseDetection is the same bound for a restarted backend to be served again.
func (s *setup) riseDetection() time.Duration {
	return time.Duration(s.rise)*s.interval + s.timeout + s.interval
}

// variant is one of the two configs the reloader alternates between. They
// differ in the marker record, the SOA serial and the pool's policy and
// weights, and in nothing the prober keys a target on (check, address): a
// reload must keep every member's health state.
type variant struct {
	name    string
	serial  int
	marker  netip.Addr
	policy  string
	weights []int // nil: no weights
}

var variants = [2]variant{
	{name: "A", serial: 1, marker: netip.MustParseAddr("192.0.2.1"), policy: "weighted", weights: []int{4, 3, 2, 1}},
	{name: "B", serial: 2, marker: netip.MustParseAddr("192.0.2.2"), policy: "round_robin"},
}

// render is the config of variant v.
func (s *setup) render(v variant) string {
	var members []string
	for i, m := range s.members {
		if v.weights != nil {
			members = append(members, fmt.Sprintf("  { address = %q, weight = %d },", m, v.weights[i]))
		} else {
			members = append(members, fmt.Sprintf("  { address = %q },", m))
		}
	}
	return fmt.Sprintf(`# dnslb soak config, variant %s (written by dnslb/internal/soak)
[server]
listen = [%q]
http = %q
admin_token_file = %q

[log]
level = "info"

[[zone]]
origin = %q
records = [
  "@ 3600 IN SOA ns1 hostmaster %d 3600 600 604800 60",
  "@ 3600 IN NS ns1",
  "@ 3600 IN MX 10 mail",
  "ns1 3600 IN A 127.0.0.1",
  "mail 300 IN A 192.0.2.25",
  "static 300 IN A 192.0.2.10",
  "static 300 IN AAAA 2001:db8::10",
  "txt 300 IN TXT \"dnslb soak\"",
  "api 300 IN CNAME www",
  "version 10 IN A %s",
]

[check.web]
type = "http"
port = %d
path = %q
expect = [200]
interval = %q
timeout = %q
fall = %d
rise = %d

[[pool]]
name = %q
policy = %q
ttl = %d
answers = 0
check = "web"
members = [
%s
]
`, v.name, s.dnsAddr, s.httpAddr, filepath.Base(s.tokenPath), zoneOrigin, v.serial, v.marker,
		s.backendPort, checkPath, s.interval, s.timeout, s.fall, s.rise,
		poolName, v.policy, s.ttl, strings.Join(members, "\n"))
}

// write replaces the config with variant v in one rename, so that a reload
// never reads half a file.
func (s *setup) write(v variant) error {
	tmp := s.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(s.render(v)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.cfgPath)
}

// freeDNSPort finds a port free for both TCP and UDP on a.
func freeDNSPort(a netip.Addr) (uint16, error) {
	var last error
	for range 50 {
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
		if err != nil {
			return 0, err
		}
		ap := ln.Addr().(*net.TCPAddr).AddrPort()
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		ln.Close()
		if err != nil {
			last = err
			continue
		}
		pc.Close()
		return ap.Port(), nil
	}
	return 0, fmt.Errorf("no port free for both UDP and TCP on %s: %w", a, last)
}

// freeTCPPort finds a free TCP port on a other than not.
func freeTCPPort(a netip.Addr, not uint16) (uint16, error) {
	for range 50 {
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).AddrPort().Port()
		ln.Close()
		if p != not {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free TCP port on %s", a)
}
