package config

import (
	"fmt"
	"math"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/health"
)

// poolTOML is one [[pool]].
type poolTOML struct {
	Name        string        `toml:"name"`           // required: owner name inside a zone
	Policy      string        `toml:"policy"`         // default "round_robin"
	TTL         *int          `toml:"ttl"`            // default 30 seconds
	MinTTL      *int          `toml:"min_ttl"`        // default 1 (0 when ttl = 0): floor of the adaptive TTL
	Answers     *int          `toml:"answers"`        // default 0 = every eligible member
	Check       string        `toml:"check"`          // default none: members are always healthy
	MinHealthy  *int          `toml:"min_healthy"`    // failover, geo: default 1 eligible member for a group (datacenter) to serve
	WhenAllDown string        `toml:"when_all_down"`  // default "all"; "none" or "pool:<name>"
	HashPrefix4 *int          `toml:"hash_prefix_v4"` // hash: default 24 bits of an IPv4 client
	HashPrefix6 *int          `toml:"hash_prefix_v6"` // hash: default 56 bits of an IPv6 client
	Map         string        `toml:"map"`            // geo: required, the [map.NAME] that picks datacenters
	Within      string        `toml:"within"`         // geo: default "round_robin", the policy among one datacenter's members
	LoadLow     *float64      `toml:"load_low"`       // least_load: none; up to it a member keeps its full share
	LoadHigh    *float64      `toml:"load_high"`      // least_load: none; from it a member gets no share
	FastReturn  bool          `toml:"fast_return"`    // default false: a returning member waits for the TTL
	Members     []*memberTOML `toml:"members"`        // required, at least one
}

// memberTOML is one entry of a pool's members.
type memberTOML struct {
	Address    string `toml:"address"`    // required IPv4 or IPv6 address
	Weight     *int   `toml:"weight"`     // weighted: default 1; 0 = only when no weighted member is eligible
	Priority   *int   `toml:"priority"`   // failover: default 1, lower is preferred
	Check      string `toml:"check"`      // default the pool's check; "none" = always healthy
	Datacenter string `toml:"datacenter"` // geo: required, a datacenter its pool's map names
}

// Pool is one [[pool]], checked.
type Pool struct {
	Name        string // canonical
	Zone        int    // index in Config.Zones of the deepest zone holding Name
	Policy      Policy
	TTL         uint32 // seconds
	MinTTL      uint32 // floor of the adaptive TTL, at most TTL
	Answers     int    // 0 = every eligible member
	MinHealthy  int    // failover: per group; geo: per datacenter
	WhenAllDown AllDown
	Fallback    string // canonical name of the pool served when WhenAllDown is AllDownFallback
	HashPrefix4 int    // hash: bits of an IPv4 client
	HashPrefix6 int
	Shed        *Watermarks // least_load: nil = no load_low/load_high
	FastReturn  bool        // a member coming back shortens answers' TTL
	Members     []Member
	Map         *Map   // geo: the map that picks datacenters
	Within      Policy // geo: the policy among one datacenter's members
	At          string // key path, "pool[3]": with Config.Line, where it is written
}

// Watermarks are least_load's load_low and load_high (NS1's shed_load): up
// to Low a member keeps its full share, from High it gets none.
type Watermarks struct{ Low, High float64 }

// Member is one address of a pool.
type Member struct {
	Addr       netip.Addr    // unmapped
	Weight     int           // weighted: 0 = only when no weighted member is eligible
	Priority   int           // failover: lower is preferred
	Check      *health.Check // nil: always healthy
	Datacenter string        // geo
}

// Policy is how a pool orders its members.
type Policy string

// The policies.
const (
	RoundRobin Policy = "round_robin"
	Weighted   Policy = "weighted"
	Failover   Policy = "failover"
	Hash       Policy = "hash"
	Fastest    Policy = "fastest"
	LeastLoad  Policy = "least_load"
	All        Policy = "all"
	Geo        Policy = "geo"
)

// Policies lists the valid policies.
var Policies = []Policy{RoundRobin, Weighted, Failover, Hash, Fastest, LeastLoad, All, Geo}

// AllDown is what a pool serves when no member is eligible.
type AllDown uint8

// The when_all_down values.
const (
	AllDownServeAll  AllDown = iota // "all": every member
	AllDownServeNone                // "none": no address (NODATA)
	AllDownFallback                 // "pool:<name>": the other pool's answer
)

// WhenAllDownText is the pool's when_all_down as a config file writes it.
func (p *Pool) WhenAllDownText() string {
	switch p.WhenAllDown {
	case AllDownServeNone:
		return "none"
	case AllDownFallback:
		return "pool:" + p.Fallback
	}
	return "all"
}

func buildPools(ts []*poolTOML, checks map[string]*checkTOML, v *validator, c *Config) []*Pool {
	byName := map[string]*Pool{}
	var out []*Pool
	for i, t := range ts {
		p := t.build(v, c, checks, c.Maps, fmt.Sprintf("pool[%d]", i))
		if p == nil {
			continue
		}
		if byName[p.Name] != nil {
			v.errorf(p.At+".name", "pool %s is defined twice", p.Name)
			continue
		}
		byName[p.Name] = p
		out = append(out, p)
	}
	for _, p := range out {
		linkFallback(v, p, byName)
	}
	return out
}

// build returns nil when the pool has no valid name.
func (t *poolTOML) build(v *validator, c *Config, checks map[string]*checkTOML, maps map[string]*Map, at string) *Pool {
	p := &Pool{Name: dns.CanonicalName(t.Name), At: at}
	if !t.validName(v, c, p) {
		return nil
	}
	p.Zone = c.ZoneOf(p.Name)
	p.Policy = RoundRobin
	if t.Policy != "" {
		p.Policy = Policy(t.Policy)
		if !contains(Policies, p.Policy) {
			v.errorf(at+".policy", "%q is not a policy: use one of %s", t.Policy, policyList())
		}
	}
	ttl := v.number(at+".ttl", t.TTL, 30, 0, 604800, "0-604800 seconds")
	p.TTL = uint32(ttl)
	p.MinTTL = uint32(v.number(at+".min_ttl", t.MinTTL, min(1, ttl), 0, ttl, fmt.Sprintf("0 up to the pool's ttl (%d)", ttl)))
	p.Answers = v.number(at+".answers", t.Answers, 0, 0, 1<<20, "0 (every eligible member) or more")
	p.MinHealthy = v.number(at+".min_healthy", t.MinHealthy, 1, 1, 1<<20, "1 or more")
	p.HashPrefix4 = v.number(at+".hash_prefix_v4", t.HashPrefix4, 24, 1, 32, "1-32")
	p.HashPrefix6 = v.number(at+".hash_prefix_v6", t.HashPrefix6, 56, 1, 128, "1-128")
	ordering := p.Policy // what orders the members: a geo pool's within
	if p.Policy == Geo && t.Within != "" {
		ordering = Policy(t.Within)
	}
	p.Shed = t.watermarks(v, p.Policy, ordering, at)
	p.FastReturn = t.FastReturn
	if t.Check != "" && t.Check != "none" && checks[t.Check] == nil {
		v.errorf(at+".check", "no [check.%s] is defined%s", t.Check, checkHint(checks))
	}
	p.whenAllDown(v, t.WhenAllDown)
	if len(t.Members) == 0 {
		v.errorf(at, "members is required: members = [{ address = \"192.0.2.10\" }, ...]")
	}
	seen := map[netip.Addr]bool{}
	for j, mt := range t.Members {
		if m, ok := mt.build(v, c, checks, fmt.Sprintf("%s.members[%d]", at, j), t.Check, p.Name, seen); ok {
			p.Members = append(p.Members, m)
		}
	}
	p.checkAnswerSize(v)
	t.geoPool(v, p, maps)
	return p
}

// checkAnswerSize refuses a pool whose answer could not fit in a DNS
// message (65535 bytes): it could only ever be answered with TC, over TCP
// too. The bound counts the header, the question, each record with its
// owner compressed, and our largest OPT (with an IPv6 client subnet).
func (p *Pool) checkAnswerSize(v *validator) {
	const fixed = 12 + 4 + 11 + 4 + 4 + 16
	var n4, n6 int
	for _, m := range p.Members {
		if m.Addr.Is4() {
			n4++
		} else {
			n6++
		}
	}
	for _, f := range []struct {
		n        int
		size     int
		addrType string
	}{{n4, 2 + 10 + 4, "IPv4"}, {n6, 2 + 10 + 16, "IPv6"}} {
		limit := (65535 - fixed - len(p.Name) - 1) / f.size
		listed := f.n
		if p.Answers > 0 {
			listed = min(listed, p.Answers)
		}
		if listed > limit {
			key, now := ".members", fmt.Sprintf("%d %s members, all in one answer (answers = 0),", f.n, f.addrType)
			if p.Answers > 0 {
				key, now = ".answers", fmt.Sprintf("%d: answers of %d %s members", p.Answers, listed, f.addrType)
			}
			v.errorf(p.At+key, "%s would not fit in a DNS message (65535 bytes): set answers to at most %d", now, limit)
		}
	}
}

// watermarks checks load_low and load_high: both or neither, 0 <= low < high,
// least_load only (a geo pool's within).
func (t *poolTOML) watermarks(v *validator, policy, ordering Policy, at string) *Watermarks {
	key := at + ".load_low"
	if t.LoadLow == nil {
		key = at + ".load_high"
	}
	switch {
	case t.LoadLow == nil && t.LoadHigh == nil:
	case policy == Geo && ordering != LeastLoad:
		v.errorf(key, "in a geo pool only within = \"least_load\" uses load_low and load_high")
	case policy != Geo && policy != LeastLoad:
		v.errorf(key, "only policy = \"least_load\" uses load_low and load_high")
	case t.LoadLow == nil || t.LoadHigh == nil:
		v.errorf(key, "set both load_low and load_high, e.g. load_low = 50, load_high = 100")
	case !finite(*t.LoadLow) || !finite(*t.LoadHigh):
		v.errorf(key, "use plain numbers, not nan or inf")
	case *t.LoadLow < 0:
		v.errorf(at+".load_low", "%g: use 0 or more (the load up to which a member keeps its full share)", *t.LoadLow)
	case *t.LoadHigh <= *t.LoadLow:
		v.errorf(at+".load_high", "%g: use more than load_low (%g)", *t.LoadHigh, *t.LoadLow)
	default:
		return &Watermarks{Low: *t.LoadLow, High: *t.LoadHigh}
	}
	return nil
}

func (t *poolTOML) validName(v *validator, c *Config, p *Pool) bool {
	switch _, ok := dns.IsDomainName(t.Name); {
	case t.Name == "":
		v.errorf(p.At, "name is required, e.g. name = \"www.lb.example.com.\"")
		return false
	case !ok || strings.Contains(t.Name, "*"):
		v.errorf(p.At+".name", "%q is not a domain name a pool can have", t.Name)
		return false
	case !strings.HasSuffix(t.Name, "."):
		v.errorf(p.At+".name", "%q must be fully qualified: write %q", t.Name, t.Name+".")
	}
	if c.ZoneOf(p.Name) < 0 {
		v.errorf(p.At+".name", "%s is in no configured zone: add a [[zone]] that contains it", p.Name)
	}
	return true
}

// whenAllDown parses when_all_down; the pool it names is linked once every
// pool is known.
func (p *Pool) whenAllDown(v *validator, w string) {
	switch {
	case w == "" || w == "all":
	case w == "none":
		p.WhenAllDown = AllDownServeNone
	case strings.HasPrefix(w, "pool:"):
		p.WhenAllDown, p.Fallback = AllDownFallback, dns.CanonicalName(strings.TrimPrefix(w, "pool:"))
	default:
		v.errorf(p.At+".when_all_down", "%q: use \"all\", \"none\" or \"pool:<name>\"", w)
	}
}

// linkFallback checks that p's fallback names another pool and that the
// chain of fallbacks from p ends.
func linkFallback(v *validator, p *Pool, byName map[string]*Pool) {
	if p.WhenAllDown != AllDownFallback {
		return
	}
	at := p.At + ".when_all_down"
	switch {
	case byName[p.Fallback] == nil:
		v.errorf(at, "%q names no pool: use \"pool:<name of another [[pool]]>\"", "pool:"+p.Fallback)
		return
	case p.Fallback == p.Name:
		v.errorf(at, "a pool cannot fall back to itself")
		return
	}
	seen := map[string]bool{p.Name: true}
	for q := byName[p.Fallback]; q != nil && q.WhenAllDown == AllDownFallback; q = byName[q.Fallback] {
		if seen[q.Name] {
			v.errorf(at, "fallback pools form a loop through %s", q.Name)
			return
		}
		seen[q.Name] = true
	}
}

func (t *memberTOML) build(v *validator, c *Config, checks map[string]*checkTOML, at, poolCheck, pool string, seen map[netip.Addr]bool) (Member, bool) {
	a, err := netip.ParseAddr(t.Address)
	ok := false
	switch {
	case t.Address == "":
		v.errorf(at, "address is required, e.g. { address = \"192.0.2.10\" }")
	case err != nil || a.Zone() != "":
		v.errorf(at+".address", "%q is not an IP address: write an IPv4 (192.0.2.10) or IPv6 (2001:db8::10) address", t.Address)
	case seen[a.Unmap()]:
		v.errorf(at+".address", "%s is listed twice in pool %s", a.Unmap(), pool)
	default:
		ok = true
	}
	m := Member{
		Addr:       a.Unmap(),
		Weight:     v.number(at+".weight", t.Weight, 1, 0, 1000000, "0-1000000"),
		Priority:   v.number(at+".priority", t.Priority, 1, 1, 1<<30, "1 or more (lower is preferred)"),
		Datacenter: t.Datacenter,
	}
	seen[m.Addr] = true
	check := poolCheck
	if t.Check != "" {
		check = t.Check
		if t.Check != "none" && checks[t.Check] == nil {
			v.errorf(at+".check", "no [check.%s] is defined%s", t.Check, checkHint(checks))
		}
	}
	if check != "none" {
		m.Check = c.Checks[check]
	}
	return m, ok
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func policyList() string {
	var s []string
	for _, p := range Policies {
		s = append(s, string(p))
	}
	return strings.Join(s, ", ")
}

func contains[T comparable](list []T, x T) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}
