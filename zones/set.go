package zones

import (
	"fmt"

	"github.com/miekg/dns"
)

// Set is the zones one server is authoritative for. Immutable.
type Set struct {
	zones map[string]*Zone
	list  []*Zone
	lens  lengths // of the origins: FindBytes looks up no other suffix
}

// NewSet groups zones; two zones with the same origin are an error.
func NewSet(zs ...*Zone) (*Set, error) {
	s := &Set{zones: make(map[string]*Zone, len(zs))}
	for _, z := range zs {
		if _, dup := s.zones[z.Origin]; dup {
			return nil, fmt.Errorf("zones: zone %s is defined twice", z.Origin)
		}
		s.zones[z.Origin] = z
		s.lens.add(len(z.Origin))
		s.list = append(s.list, z)
	}
	return s, nil
}

// Zones returns the zones in the order they were given.
func (s *Set) Zones() []*Zone { return s.list }

// Zone returns the zone with exactly this origin (lowercase, fully qualified).
func (s *Set) Zone(origin string) *Zone { return s.zones[origin] }

// Find returns the zone that answers qname (lowercase, fully qualified): the
// deepest enclosing one, except that DS at the apex of a child zone is
// answered by its parent when the parent is served too (RFC 4035 §3.1.4.1).
func (s *Set) Find(qname string, qtype uint16) *Zone {
	for off, end := 0, false; !end; off, end = dns.NextLabel(qname, off) {
		if z := s.zones[qname[off:]]; z != nil {
			if off == 0 && qtype == dns.TypeDS && qname != "." {
				if p := s.Find(parent(qname), 0); p != nil {
					return p
				}
			}
			return z
		}
	}
	return s.zones["."]
}
