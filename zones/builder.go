package zones

import (
	"errors"
	"fmt"
	"sort"

	"github.com/miekg/dns"
)

// Error is a problem with zone data, placed at a file and line.
type Error struct {
	File string
	Line int // 0 when unknown
	Err  error
}

func (e *Error) Error() string {
	switch {
	case e.File == "":
		return e.Err.Error()
	case e.Line == 0:
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Pos is where a record came from, for error messages.
type Pos struct {
	File string
	Line int
}

// Builder collects the records of one zone and builds an immutable Zone.
// It is not safe for concurrent use.
type Builder struct {
	origin string
	nodes  map[string]*Node
	pos    map[string]Pos // first position of each owner name, for errors
	errs   []error
	size   int
	at     Pos  // where the zone is declared, for errors about the whole zone
	broken bool // a file could not be read: no point judging what is missing
}

// DeclaredAt sets where the zone is declared (a config file line), used for
// errors that belong to no record, such as a missing SOA.
func (b *Builder) DeclaredAt(p Pos) { b.at = p }

// NewBuilder starts a zone for origin (any case; made fully qualified).
func NewBuilder(origin string) *Builder {
	return &Builder{
		origin: dns.CanonicalName(origin),
		nodes:  make(map[string]*Node),
		pos:    make(map[string]Pos),
	}
}

// Origin returns the zone's origin, lowercase and fully qualified.
func (b *Builder) Origin() string { return b.origin }

// Add adds one record. Records outside the zone or of a class other than IN
// are errors, reported by Build with pos.
func (b *Builder) Add(rr dns.RR, pos Pos) {
	h := rr.Header()
	owner := dns.CanonicalName(h.Name)
	if !dns.IsSubDomain(b.origin, owner) {
		b.fail(pos, "record %q is outside zone %s: its owner must be %s or a name below it", compact(rr), b.origin, b.origin)
		return
	}
	if h.Class != dns.ClassINET {
		b.fail(pos, "record %q has class %s: only IN is served", compact(rr), dns.ClassToString[h.Class])
		return
	}
	if h.Rrtype == dns.TypeOPT || h.Rrtype == dns.TypeTSIG || h.Rrtype == dns.TypeTKEY {
		b.fail(pos, "record %q: type %s cannot appear in zone data", compact(rr), dns.TypeToString[h.Rrtype])
		return
	}
	h.Name = owner // owners are stored lowercase so that answers compress against the question
	n := b.node(owner, pos)
	for i := range n.RRsets {
		set := &n.RRsets[i]
		if set.Type != h.Rrtype {
			continue
		}
		for _, old := range set.RRs {
			if dns.IsDuplicate(old, rr) {
				return // RFC 2181 §5: an RRset has no duplicate records
			}
		}
		set.RRs = append(set.RRs, rr)
		b.size++
		return
	}
	n.RRsets = append(n.RRsets, RRset{Type: h.Rrtype, RRs: []dns.RR{rr}})
	b.size++
}

// AddDynamic marks name's RRset of type t as chosen per query, with the
// caller's id. A static RRset of the same type at the same name is an error.
func (b *Builder) AddDynamic(name string, t uint16, id int, pos Pos) {
	owner := dns.CanonicalName(name)
	if !dns.IsSubDomain(b.origin, owner) {
		b.fail(pos, "%s is outside zone %s", owner, b.origin)
		return
	}
	n := b.node(owner, pos)
	if _, ok := n.Dynamic(t); ok {
		b.fail(pos, "%s %s is already served by another pool", owner, dns.TypeToString[t])
		return
	}
	n.Dynamics = append(n.Dynamics, DynamicRRset{Type: t, ID: id})
}

func (b *Builder) node(owner string, pos Pos) *Node {
	n := b.nodes[owner]
	if n == nil {
		n = &Node{Name: owner}
		b.nodes[owner] = n
		b.pos[owner] = pos
	}
	return n
}

func (b *Builder) fail(pos Pos, format string, args ...any) {
	b.errs = append(b.errs, &Error{File: pos.File, Line: pos.Line, Err: fmt.Errorf(format, args...)})
}

// Err returns the errors found so far (nil when none).
func (b *Builder) Err() error { return errors.Join(b.errs...) }

// Build validates the zone and returns it. All problems found are returned
// together, each an *Error.
func (b *Builder) Build() (*Zone, error) {
	apex := b.nodes[b.origin]
	if apex == nil {
		apex = &Node{Name: b.origin}
		b.nodes[b.origin] = apex
	}
	z := &Zone{Origin: b.origin, Apex: apex, nodes: b.nodes, labels: dns.CountLabel(b.origin), size: b.size}
	if !b.broken {
		b.checkApex(z)
	}
	// Empty non-terminals exist (RFC 4592 §2.2.2): add every missing
	// ancestor between an owner and the apex.
	names := make([]string, 0, len(b.nodes))
	for name := range b.nodes {
		names = append(names, name)
	}
	for _, name := range names {
		for p := parent(name); p != "" && len(p) > len(b.origin); p = parent(p) {
			if _, ok := b.nodes[p]; ok {
				break
			}
			b.nodes[p] = &Node{Name: p}
		}
	}
	for _, n := range b.nodes {
		sort.Slice(n.RRsets, func(i, j int) bool { return n.RRsets[i].Type < n.RRsets[j].Type })
		sort.Slice(n.Dynamics, func(i, j int) bool { return n.Dynamics[i].Type < n.Dynamics[j].Type })
		n.Cut = n != apex && n.RRset(dns.TypeNS) != nil
		b.checkNode(n, apex)
	}
	for _, n := range b.nodes {
		for p := parent(n.Name); p != "" && len(p) > len(b.origin); p = parent(p) {
			if b.nodes[p].Cut {
				n.Occluded = true
				break
			}
		}
		if n.Occluded || n.Cut {
			for _, d := range n.Dynamics {
				b.fail(b.pos[n.Name], "%s %s is at or below the delegation to another server; a pool must lie in authoritative data", n.Name, dns.TypeToString[d.Type])
			}
		}
	}
	if err := b.Err(); err != nil {
		return nil, err
	}
	return z, nil
}

func (b *Builder) checkApex(z *Zone) {
	at := b.at
	if p, ok := b.pos[b.origin]; ok {
		at = p
	}
	soa := z.Apex.RRset(dns.TypeSOA)
	switch len(soa) {
	case 0:
		b.fail(at, "zone %s has no SOA record at its apex: add one, e.g. \"@ 3600 IN SOA ns1.%s hostmaster.%s 1 3600 600 604800 300\"", b.origin, b.origin, b.origin)
	case 1:
		z.SOA = soa[0].(*dns.SOA)
		neg := dns.Copy(z.SOA).(*dns.SOA)
		neg.Hdr.Ttl = min(neg.Hdr.Ttl, neg.Minttl)
		z.NegativeSOA = neg
	default:
		b.fail(at, "zone %s has %d SOA records at its apex: exactly one is allowed", b.origin, len(soa))
	}
	if z.Apex.RRset(dns.TypeNS) == nil {
		b.fail(at, "zone %s has no NS records at its apex: add at least one, e.g. \"@ 3600 IN NS ns1.%s\"", b.origin, b.origin)
	}
}

func (b *Builder) checkNode(n, apex *Node) {
	at := b.pos[n.Name]
	if n != apex && n.RRset(dns.TypeSOA) != nil {
		b.fail(at, "SOA record at %s: only the zone apex %s may have one", n.Name, b.origin)
	}
	for _, d := range n.Dynamics {
		if n.RRset(d.Type) != nil {
			b.fail(at, "%s has %s records in the zone and a pool for %s: remove one of them", n.Name, dns.TypeToString[d.Type], dns.TypeToString[d.Type])
		}
	}
	cname := n.RRset(dns.TypeCNAME)
	if len(cname) > 1 {
		b.fail(at, "%s has %d CNAME records: a name can be an alias of only one name", n.Name, len(cname))
	}
	if cname == nil {
		return
	}
	if n == apex {
		b.fail(at, "CNAME at the zone apex %s: the apex must hold SOA and NS, which a CNAME forbids", n.Name)
	}
	for _, set := range n.RRsets {
		switch set.Type {
		case dns.TypeCNAME, dns.TypeRRSIG, dns.TypeNSEC:
		default:
			b.fail(at, "%s has a CNAME and a %s record: a CNAME cannot share its name with other data (RFC 1034 §3.6.2)", n.Name, dns.TypeToString[set.Type])
		}
	}
	for _, d := range n.Dynamics {
		b.fail(at, "%s is a CNAME and cannot also be a pool (%s)", n.Name, dns.TypeToString[d.Type])
	}
}

// parent returns name without its first label, or "" for the root.
func parent(name string) string {
	if name == "." {
		return ""
	}
	off, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[off:]
}

// compact renders a record on one line, tabs as spaces, for messages.
func compact(rr dns.RR) string {
	s := []byte(rr.String())
	for i, c := range s {
		if c == '\t' {
			s[i] = ' '
		}
	}
	return string(s)
}
