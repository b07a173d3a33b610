// Package update applies RFC 2136 dynamic updates to a zone: the zone
// section, prerequisites, and additions and deletions of records, RRsets
// and names, each allowed only by a rule naming the signing key, the name
// and the type. It builds the changed zone aside (zones.Zone.Edit) and
// returns it with the difference it made, which the caller journals before
// swapping it in. It knows nothing of sockets, TSIG or files.
package update

import (
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Rule lets one key change some names and types.
type Rule struct {
	Key   string   // the TSIG key's name, lowercase and fully qualified
	Names []string // patterns, lowercase and fully qualified: a "*" label matches one or more labels
	Types []uint16
}

// Policy is a zone's rules; an update is allowed when, for every name
// and type it touches, some rule of its key covers them.
type Policy []Rule

// CheckPattern returns an error when p (lowercase, fully qualified) is not
// a usable pattern below origin.
func CheckPattern(p, origin string) error {
	if _, ok := dns.IsDomainName(p); !ok || !dns.IsFqdn(p) {
		return fmt.Errorf("%q is not a fully qualified name (end it with a dot)", p)
	}
	for _, l := range dns.SplitDomainName(p) {
		if strings.Contains(l, "*") && l != "*" {
			return fmt.Errorf("%q: \"*\" must be a whole label", p)
		}
	}
	if !dns.IsSubDomain(origin, strings.ReplaceAll(p, "*", "x")) {
		return fmt.Errorf("%q is outside the zone %s", p, origin)
	}
	return nil
}

// Match reports whether name matches pattern; both lowercase and fully
// qualified. A "*" label in the pattern stands for one or more labels.
func Match(pattern, name string) bool {
	return matchLabels(dns.SplitDomainName(pattern), dns.SplitDomainName(name))
}

func matchLabels(p, n []string) bool {
	if len(p) == 0 {
		return len(n) == 0
	}
	if p[0] == "*" {
		for k := 1; k <= len(n); k++ {
			if matchLabels(p[1:], n[k:]) {
				return true
			}
		}
		return false
	}
	return len(n) > 0 && p[0] == n[0] && matchLabels(p[1:], n[1:])
}

// HasKey reports whether any rule names key.
func (p Policy) HasKey(key string) bool {
	return slices.ContainsFunc(p, func(r Rule) bool { return r.Key == key })
}

// allows reports whether key may change type t at name. A protected name
// (a pool's, the apex SOA and NS, a delegation and its glue) must be
// written out in the rule: a pattern with "*" does not reach it.
func (p Policy) allows(key, name string, t uint16, protected bool) bool {
	for _, r := range p {
		if r.Key != key || (t != dns.TypeANY && !slices.Contains(r.Types, t)) {
			continue
		}
		for _, pat := range r.Names {
			if pat == name || (!protected && Match(pat, name)) {
				return true
			}
		}
	}
	return false
}
