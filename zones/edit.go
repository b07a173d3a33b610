package zones

import (
	"errors"
	"maps"
	"slices"

	"github.com/miekg/dns"
)

// Edit returns a new zone in which each name in names holds exactly the
// given static records (none: the name's static data is gone; its
// dynamic RRsets stay), every other name as in z. z is not changed: a
// zone changed at run time (RFC 2136) is built aside and swapped in.
//
// Only the names given and their surroundings are touched: the new zone
// shares every other node with z (nodes never change once built), so an
// edit costs a copy of the name index plus work near the change, not a
// rebuild. Empty non-terminals appear and disappear as in Build, and a
// delegation added or removed re-marks what lies below it.
func (z *Zone) Edit(names map[string][]dns.RR) (*Zone, error) {
	nz := &Zone{Origin: z.Origin, labels: z.labels, size: z.size, nodes: maps.Clone(z.nodes), lens: z.lens, wildLens: z.wildLens}
	b := &Builder{origin: z.Origin} // for its checks and their errors
	buf := make([]byte, 65535+512)
	order := slices.Sorted(maps.Keys(names))
	dirty := map[string]bool{} // names whose node is new here: flags to set, checks to run
	var emptied []string
	for _, name := range order {
		name := dns.CanonicalName(name)
		if !inZone(name, z.Origin) {
			b.fail(Pos{}, "%s is outside zone %s", name, z.Origin)
			continue
		}
		n := &Node{Name: name}
		if old := z.nodes[name]; old != nil {
			n.dyn = old.dyn
			nz.size -= old.records()
		}
		var recs []rec
		for _, rr := range names[name] {
			owner, wire, err := pack(dns.Copy(rr), z.Origin, buf)
			if err != nil {
				b.fail(Pos{}, "%v", err)
				continue
			}
			if owner != name {
				b.fail(Pos{}, "record of %s given for %s", owner, name)
				continue
			}
			recs = append(recs, rec{t: uint16(wire[0])<<8 | uint16(wire[1]), b: slices.Clone(wire)})
		}
		nz.size += len(recs) - sortRecords(recs)
		for _, r := range recs {
			if !r.seen {
				n.data = append(n.data, r.b...)
			}
		}
		nz.nodes[name] = n
		dirty[name] = true
		if n.Empty() {
			emptied = append(emptied, name)
		}
		// Ancestors up to the apex exist (RFC 4592 §2.2.2).
		for p := parent(name); p != "" && len(p) > len(z.Origin); p = parent(p) {
			if _, ok := nz.nodes[p]; ok {
				break
			}
			nz.nodes[p] = &Node{Name: p}
			dirty[p] = true
		}
	}
	// A name left with nothing and nothing below it is gone, and so are
	// the empty non-terminals that only led to it.
	for _, name := range emptied {
		for p := name; p != z.Origin && p != ""; p = parent(p) {
			n := nz.nodes[p]
			if n == nil || !n.Empty() || nz.hasBelow(p) {
				break
			}
			delete(nz.nodes, p)
			delete(dirty, p)
		}
	}
	// Delegations: a node is a cut when it holds NS below the apex; what is
	// below a cut whose state changed is marked again.
	for name := range dirty {
		n := nz.nodes[name]
		nz.index(name)
		n.Cut = name != z.Origin && n.Has(dns.TypeNS)
		if old := z.nodes[name]; old != nil && old.Cut != n.Cut || (old == nil && n.Cut) {
			for k := range nz.nodes {
				if k != name && inZone(k, name) && !dirty[k] {
					c := *nz.nodes[k] // shared with z: copied before it changes
					nz.nodes[k] = &c
					dirty[k] = true
				}
			}
		}
	}
	apex := nz.nodes[z.Origin]
	if apex == nil {
		apex = &Node{Name: z.Origin}
		nz.nodes[z.Origin] = apex
	}
	nz.Apex = apex
	// Parents before children, so that each looks at a settled parent.
	marked := slices.SortedFunc(maps.Keys(dirty), func(a, c string) int { return dns.CountLabel(a) - dns.CountLabel(c) })
	for _, name := range marked {
		n := nz.nodes[name]
		if n != apex {
			p := nz.nodes[parent(name)]
			n.Occluded = p != apex && (p.Cut || p.Occluded)
		}
		b.checkNode(n, apex)
		if n.Occluded || n.Cut {
			for _, d := range n.Dynamics() {
				b.fail(Pos{}, "%s %s is at or below the delegation to another server; a pool must lie in authoritative data", n.Name, dns.TypeToString[d.Type])
			}
		}
		n.DName = n.Has(dns.TypeDNAME) && !n.Cut && !n.Occluded
		if n.DName {
			// A DNAME added above a pool would hide it (RFC 6672 §2.4).
			for k, below := range nz.nodes {
				if k != name && inZone(k, name) && len(below.Dynamics()) > 0 {
					b.fail(Pos{}, "%s is below the DNAME at %s, which redirects every name below it: no query can reach the pool; move the pool or the DNAME", k, name)
				}
			}
		}
	}
	if dirty[z.Origin] {
		b.checkApex(nz)
	} else {
		nz.SOA, nz.NegativeSOA = z.SOA, z.NegativeSOA
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	return nz, nil
}

// records returns how many records n holds.
func (n *Node) records() int {
	c := 0
	for off := 0; off < len(n.data); c++ {
		_, off = n.record(off)
	}
	return c
}

// hasBelow reports whether any name strictly below name is in z.
func (z *Zone) hasBelow(name string) bool {
	for k := range z.nodes {
		if k != name && inZone(k, name) {
			return true
		}
	}
	return false
}
