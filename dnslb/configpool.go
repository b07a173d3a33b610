package dnslb

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/health"
)

// CheckConfig is one [check.NAME].
type CheckConfig struct {
	Type          string   `toml:"type"`            // required: tcp | http | https | dns | none
	Port          int      `toml:"port"`            // tcp: required; http 80, https 443, dns 53
	Path          string   `toml:"path"`            // http(s): default "/"
	Host          string   `toml:"host"`            // http(s): Host header and TLS server name
	Expect        []int    `toml:"expect"`          // http(s): accepted statuses, default 200-399; dns: not used
	Body          string   `toml:"body"`            // http(s): must appear in the first 64 KiB of the body
	TLSSkipVerify bool     `toml:"tls_skip_verify"` // https: default false (certificates are verified)
	CAFile        string   `toml:"ca_file"`         // https: PEM roots to verify with, default the system's
	LoadHeader    string   `toml:"load_header"`     // http(s): header with the member's load (least_load)
	Name          string   `toml:"name"`            // dns: required, the name to query
	QType         string   `toml:"qtype"`           // dns: default "A"
	Rcode         string   `toml:"rcode"`           // dns: expected rcode, default "NOERROR"
	Interval      Duration `toml:"interval"`        // default 2s
	FastInterval  Duration `toml:"fast_interval"`   // default max(interval/2, timeout): while a result goes against the state
	Timeout       Duration `toml:"timeout"`         // default 1s, at most interval
	Rise          int      `toml:"rise"`            // default 2 consecutive successes to come up
	Fall          int      `toml:"fall"`            // default 3 consecutive failures to go down
	Initial       string   `toml:"initial"`         // default "up": state before the first probes decide

	check *health.Check
}

// PoolConfig is one [[pool]].
type PoolConfig struct {
	Name        string          `toml:"name"`           // required: owner name inside a zone
	Policy      string          `toml:"policy"`         // default "round_robin"
	TTL         *int            `toml:"ttl"`            // default 30 seconds
	MinTTL      *int            `toml:"min_ttl"`        // default 1: floor of the adaptive TTL
	Answers     int             `toml:"answers"`        // default 0 = every eligible member
	Check       string          `toml:"check"`          // default none: members are always healthy
	MinHealthy  int             `toml:"min_healthy"`    // failover, geo: default 1 eligible member for a group (datacenter) to serve
	WhenAllDown string          `toml:"when_all_down"`  // default "all"; "none" or "pool:<name>"
	HashPrefix4 int             `toml:"hash_prefix_v4"` // hash: default 24 bits of an IPv4 client
	HashPrefix6 int             `toml:"hash_prefix_v6"` // hash: default 56 bits of an IPv6 client
	Map         string          `toml:"map"`            // geo: required, the [map.NAME] that picks datacenters
	Within      string          `toml:"within"`         // geo: default "round_robin", the policy among one datacenter's members
	Members     []*MemberConfig `toml:"members"`        // required, at least one

	name     string // canonical
	fallback string // canonical name of the when_all_down pool
}

// MemberConfig is one entry of a pool's members.
type MemberConfig struct {
	Address    string `toml:"address"`    // required IPv4 or IPv6 address
	Weight     *int   `toml:"weight"`     // weighted: default 1; 0 = only when no weighted member is eligible
	Priority   int    `toml:"priority"`   // failover: default 1, lower is preferred
	Check      string `toml:"check"`      // default the pool's check; "none" = always healthy
	Datacenter string `toml:"datacenter"` // geo: required, a datacenter its pool's map names

	addr   netip.Addr
	weight int
	check  string
}

// Policies lists the valid values of a pool's policy.
var policies = []string{"round_robin", "weighted", "failover", "hash", "fastest", "least_load", "all", "geo"}

func (c *Config) validate(v *validator) {
	c.validateServer(v)
	c.validateLog(v)
	c.validateRRL(v)
	c.validateZones(v)
	names := make([]string, 0, len(c.Checks))
	for name := range c.Checks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c.Checks[name].validate(c, v, name)
	}
	c.validateMaps(v)
	c.validatePools(v)
}

func (ch *CheckConfig) validate(c *Config, v *validator, name string) {
	at := "check." + name
	hc := &health.Check{
		Name: name, Type: health.Type(ch.Type), Path: ch.Path, Host: ch.Host, Expect: ch.Expect,
		Body: ch.Body, TLSSkipVerify: ch.TLSSkipVerify, LoadHeader: ch.LoadHeader,
		Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3, InitialUp: true,
	}
	switch ch.Type {
	case "tcp":
		if ch.Port == 0 {
			v.errorf(at+".type", "a tcp check needs a port, e.g. port = 8080")
		}
	case "http":
		hc.Port = 80
	case "https":
		hc.Port = 443
	case "dns":
		hc.Port = 53
	case "none":
	case "":
		v.errorf(at, "type is required: tcp, http, https, dns or none")
	default:
		v.errorf(at+".type", "%q is not a check type: use tcp, http, https, dns or none", ch.Type)
	}
	if ch.Port != 0 {
		if ch.Port < 1 || ch.Port > 65535 {
			v.errorf(at+".port", "%d is not a port: use 1-65535", ch.Port)
		}
		hc.Port = uint16(ch.Port)
	}
	if hc.Path == "" {
		hc.Path = "/"
	} else if !strings.HasPrefix(hc.Path, "/") {
		v.errorf(at+".path", "%q must start with \"/\"", ch.Path)
	}
	for i, s := range ch.Expect {
		if s < 100 || s > 599 {
			v.errorf(fmt.Sprintf("%s.expect[%d]", at, i), "%d is not an HTTP status: use 100-599", s)
		}
	}
	if ch.CAFile != "" {
		if ch.Type != "https" {
			v.errorf(at+".ca_file", "only https checks use ca_file")
		} else if pool, err := loadCAFile(c.path(ch.CAFile)); err != nil {
			v.errorf(at+".ca_file", "%v", err)
		} else {
			hc.RootCAs = pool
		}
	}
	if ch.Type != "http" && ch.Type != "https" {
		for key, set := range map[string]bool{"path": ch.Path != "", "host": ch.Host != "", "expect": ch.Expect != nil, "body": ch.Body != "", "load_header": ch.LoadHeader != "", "tls_skip_verify": ch.TLSSkipVerify} {
			if set && ch.Type != "" {
				v.errorf(at+"."+key, "only http and https checks use %s", key)
			}
		}
	}
	if ch.Type == "dns" {
		hc.DNSName, hc.DNSType = dns.Fqdn(ch.Name), dns.TypeA
		if ch.Name == "" {
			v.errorf(at, "a dns check needs the name to ask each member, e.g. name = \"www.example.com.\"")
		} else if _, ok := dns.IsDomainName(ch.Name); !ok {
			v.errorf(at+".name", "%q is not a domain name", ch.Name)
		}
		if ch.QType != "" {
			t, ok := dns.StringToType[strings.ToUpper(ch.QType)]
			if !ok {
				v.errorf(at+".qtype", "%q is not a DNS type: use e.g. \"A\", \"AAAA\", \"SOA\"", ch.QType)
			}
			hc.DNSType = t
		}
		if ch.Rcode != "" {
			r, ok := dns.StringToRcode[strings.ToUpper(ch.Rcode)]
			if !ok {
				v.errorf(at+".rcode", "%q is not an rcode: use e.g. \"NOERROR\", \"NXDOMAIN\", \"REFUSED\"", ch.Rcode)
			}
			hc.DNSRcode = r
		}
	} else {
		for key, set := range map[string]bool{"name": ch.Name != "", "qtype": ch.QType != "", "rcode": ch.Rcode != ""} {
			if set && ch.Type != "" {
				v.errorf(at+"."+key, "only dns checks use %s", key)
			}
		}
	}
	if ch.Interval.Set {
		hc.Interval = ch.Interval.Duration
	}
	if ch.Timeout.Set {
		hc.Timeout = ch.Timeout.Duration
	}
	if hc.Interval < 100*time.Millisecond {
		v.errorf(at+".interval", "%v is too short: use at least 100ms", hc.Interval)
	}
	if hc.Timeout <= 0 || hc.Timeout > hc.Interval {
		v.errorf(at+".timeout", "%v must be more than 0 and at most the interval (%v)", hc.Timeout, hc.Interval)
	}
	hc.FastInterval = max(hc.Interval/2, hc.Timeout)
	if ch.FastInterval.Set {
		hc.FastInterval = ch.FastInterval.Duration
		if hc.FastInterval < 100*time.Millisecond || hc.FastInterval > hc.Interval {
			v.errorf(at+".fast_interval", "%v: use 100ms up to the interval (%v)", hc.FastInterval, hc.Interval)
		}
	}
	if ch.Rise != 0 {
		hc.Rise = ch.Rise
	}
	if ch.Fall != 0 {
		hc.Fall = ch.Fall
	}
	if hc.Rise < 1 || hc.Rise > 100 {
		v.errorf(at+".rise", "%d: use 1-100 consecutive successes", ch.Rise)
	}
	if hc.Fall < 1 || hc.Fall > 100 {
		v.errorf(at+".fall", "%d: use 1-100 consecutive failures", ch.Fall)
	}
	switch ch.Initial {
	case "", "up":
	case "down":
		hc.InitialUp = false
	default:
		v.errorf(at+".initial", "%q: use \"up\" or \"down\"", ch.Initial)
	}
	ch.check = hc
}

func (c *Config) validatePools(v *validator) {
	byName := map[string]*PoolConfig{}
	for i, p := range c.Pools {
		at := fmt.Sprintf("pool[%d]", i)
		p.name = dns.CanonicalName(p.Name)
		switch _, ok := dns.IsDomainName(p.Name); {
		case p.Name == "":
			v.errorf(at, "name is required, e.g. name = \"www.lb.example.com.\"")
		case !ok || strings.Contains(p.Name, "*"):
			v.errorf(at+".name", "%q is not a domain name a pool can have", p.Name)
		case byName[p.name] != nil:
			v.errorf(at+".name", "pool %s is defined twice", p.name)
		default:
			if !strings.HasSuffix(p.Name, ".") {
				v.errorf(at+".name", "%q must be fully qualified: write %q", p.Name, p.Name+".")
			}
			if c.zoneOf(p.name) == nil {
				v.errorf(at+".name", "%s is in no configured zone: add a [[zone]] that contains it", p.name)
			}
			byName[p.name] = p
		}
		if p.Policy == "" {
			p.Policy = "round_robin"
		}
		if !contains(policies, p.Policy) {
			v.errorf(at+".policy", "%q is not a policy: use one of %s", p.Policy, strings.Join(policies, ", "))
		}
		if p.TTL == nil {
			p.TTL = ptr(30)
		}
		if p.MinTTL == nil {
			p.MinTTL = ptr(min(1, *p.TTL))
		}
		if *p.TTL < 0 || *p.TTL > 604800 {
			v.errorf(at+".ttl", "%d: use 0-604800 seconds", *p.TTL)
		}
		if *p.MinTTL < 0 || *p.MinTTL > *p.TTL {
			v.errorf(at+".min_ttl", "%d: use 0 up to the pool's ttl (%d)", *p.MinTTL, *p.TTL)
		}
		if p.Answers < 0 {
			v.errorf(at+".answers", "%d: use 0 (every eligible member) or more", p.Answers)
		}
		if p.MinHealthy == 0 {
			p.MinHealthy = 1
		} else if p.MinHealthy < 0 {
			v.errorf(at+".min_healthy", "%d: use 1 or more", p.MinHealthy)
		}
		if p.HashPrefix4 == 0 {
			p.HashPrefix4 = 24
		}
		if p.HashPrefix6 == 0 {
			p.HashPrefix6 = 56
		}
		if p.HashPrefix4 < 1 || p.HashPrefix4 > 32 {
			v.errorf(at+".hash_prefix_v4", "%d: use 1-32", p.HashPrefix4)
		}
		if p.HashPrefix6 < 1 || p.HashPrefix6 > 128 {
			v.errorf(at+".hash_prefix_v6", "%d: use 1-128", p.HashPrefix6)
		}
		if p.Check != "" && p.Check != "none" && c.Checks[p.Check] == nil {
			v.errorf(at+".check", "no [check.%s] is defined%s", p.Check, c.checkHint())
		}
		if len(p.Members) == 0 {
			v.errorf(at, "members is required: members = [{ address = \"192.0.2.10\" }, ...]")
		}
		seen := map[netip.Addr]bool{}
		for j, m := range p.Members {
			c.validateMember(v, fmt.Sprintf("%s.members[%d]", at, j), p, m, seen)
		}
		c.validateGeoPool(v, at, p)
	}
	for i, p := range c.Pools {
		at := fmt.Sprintf("pool[%d].when_all_down", i)
		switch w := p.WhenAllDown; {
		case w == "" || w == "all":
			p.WhenAllDown = "all"
		case w == "none":
		case strings.HasPrefix(w, "pool:"):
			p.fallback = dns.CanonicalName(strings.TrimPrefix(w, "pool:"))
			if byName[p.fallback] == nil {
				v.errorf(at, "%q names no pool: use \"pool:<name of another [[pool]]>\"", w)
			} else if p.fallback == p.name {
				v.errorf(at, "a pool cannot fall back to itself")
			}
		default:
			v.errorf(at, "%q: use \"all\", \"none\" or \"pool:<name>\"", w)
		}
	}
	// Fallback chains must end: walk each one.
	for i, p := range c.Pools {
		seen := map[string]bool{p.name: true}
		for q := byName[p.fallback]; q != nil; q = byName[q.fallback] {
			if seen[q.name] {
				v.errorf(fmt.Sprintf("pool[%d].when_all_down", i), "fallback pools form a loop through %s", q.name)
				break
			}
			seen[q.name] = true
		}
	}
}

func (c *Config) validateMember(v *validator, at string, p *PoolConfig, m *MemberConfig, seen map[netip.Addr]bool) {
	a, err := netip.ParseAddr(m.Address)
	switch {
	case m.Address == "":
		v.errorf(at, "address is required, e.g. { address = \"192.0.2.10\" }")
	case err != nil || a.Zone() != "":
		v.errorf(at+".address", "%q is not an IP address: write an IPv4 (192.0.2.10) or IPv6 (2001:db8::10) address", m.Address)
	case seen[a.Unmap()]:
		v.errorf(at+".address", "%s is listed twice in pool %s", a.Unmap(), p.name)
	}
	m.addr = a.Unmap()
	seen[m.addr] = true
	m.weight = 1
	if m.Weight != nil {
		m.weight = *m.Weight
		if m.weight < 0 || m.weight > 1000000 {
			v.errorf(at+".weight", "%d: use 0-1000000", m.weight)
		}
	}
	if m.Priority == 0 {
		m.Priority = 1
	} else if m.Priority < 0 {
		v.errorf(at+".priority", "%d: use 1 or more (lower is preferred)", m.Priority)
	}
	m.check = p.Check
	if m.Check != "" {
		m.check = m.Check
		if m.Check != "none" && c.Checks[m.Check] == nil {
			v.errorf(at+".check", "no [check.%s] is defined%s", m.Check, c.checkHint())
		}
	}
	if m.check == "none" {
		m.check = ""
	}
}

// loadCAFile reads PEM certificates to verify https checks with.
func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

func (c *Config) checkHint() string {
	if len(c.Checks) == 0 {
		return ": add a [check.NAME] table or remove the reference"
	}
	var names []string
	for n := range c.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	return " (defined: " + strings.Join(names, ", ") + ")"
}

// zoneOf returns the configured zone that contains name, the deepest one.
func (c *Config) zoneOf(name string) *ZoneConfig {
	var best *ZoneConfig
	for i := range c.Zones {
		z := &c.Zones[i]
		o := dns.CanonicalName(z.Origin)
		if dns.IsSubDomain(o, name) && (best == nil || len(o) > len(dns.CanonicalName(best.Origin))) {
			best = z
		}
	}
	return best
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// tomlKeys returns the toml tags of a config struct, for hints.
func tomlKeys(v any) []string {
	t := reflect.TypeOf(v)
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}
