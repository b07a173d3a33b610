// Package zones holds authoritative zone data: it loads RFC 1035 master files
// and inline records, builds an immutable name tree per zone, and looks names
// up following RFC 1034 §4.3.2 and RFC 4592. It knows nothing of pools or
// health: a name can carry a "dynamic" RRset, an opaque number the caller
// resolves at query time.
package zones

import (
	"sort"

	"github.com/miekg/dns"
)

// RRset is the records of one type at one owner name. Never mutate RRs: they
// are shared by every query.
type RRset struct {
	Type uint16
	RRs  []dns.RR
}

// DynamicRRset marks an RRset whose records are chosen per query by the caller
// (a pool); ID is the caller's number for it.
type DynamicRRset struct {
	Type uint16
	ID   int
}

// Node is one owner name in a zone. A node without RRsets or dynamics is an
// empty non-terminal.
type Node struct {
	Name     string         // lowercase, fully qualified
	RRsets   []RRset        // sorted by type
	Dynamics []DynamicRRset // sorted by type
	Cut      bool           // NS below the apex: a delegation point
	Occluded bool           // strictly below a delegation point: glue, not authoritative
}

// RRset returns the records of type t at n, or nil.
func (n *Node) RRset(t uint16) []dns.RR {
	for i := range n.RRsets {
		if n.RRsets[i].Type == t {
			return n.RRsets[i].RRs
		}
	}
	return nil
}

// Dynamic returns the dynamic ID of type t at n.
func (n *Node) Dynamic(t uint16) (int, bool) {
	for _, d := range n.Dynamics {
		if d.Type == t {
			return d.ID, true
		}
	}
	return 0, false
}

// Empty reports whether n is an empty non-terminal.
func (n *Node) Empty() bool { return len(n.RRsets) == 0 && len(n.Dynamics) == 0 }

// Zone is one loaded zone. It is immutable once built.
type Zone struct {
	Origin string   // lowercase, fully qualified
	SOA    *dns.SOA // the apex SOA as loaded
	// NegativeSOA is the SOA to put in the authority section of NXDOMAIN and
	// NODATA answers: its TTL is min(SOA TTL, SOA MINIMUM) (RFC 2308 §3).
	NegativeSOA *dns.SOA
	Apex        *Node

	nodes  map[string]*Node
	labels int // label count of Origin
	size   int // records loaded
}

// Node returns the node named name (lowercase, fully qualified), or nil.
func (z *Zone) Node(name string) *Node { return z.nodes[name] }

// Len returns the number of records in the zone.
func (z *Zone) Len() int { return z.size }

// Names returns every owner name in the zone, sorted in canonical order.
func (z *Zone) Names() []string {
	names := make([]string, 0, len(z.nodes))
	for n := range z.nodes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return canonicalLess(names[i], names[j]) })
	return names
}

// canonicalLess orders names as RFC 4034 §6.1 does (label by label from the
// right), which is the order operators expect in listings.
func canonicalLess(a, b string) bool {
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if la[i] != lb[j] {
			return la[i] < lb[j]
		}
	}
	return len(la) < len(lb)
}
