package zones

import (
	"context"
	"encoding/binary"
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
	origin  string
	nodes   map[string]*Node
	files   []string // positions of nodes refer to these
	errs    []error
	size    int
	at      Pos      // where the zone is declared, for errors about the whole zone
	broken  bool     // a file could not be read: no point judging what is missing
	buf     []byte   // packing scratch
	last    *Node    // the node of the last record added
	arena   [][]Node // nodes made here, a thousand to an allocation
	recs    recordArena
	names   nameArena
	guard   *loadGuard
	tooMany bool // more records than Limits.MaxRecords: the rest were ignored
}

// Limit bounds what b loads by l, and stops loading (with an error) once ctx
// is done. Call it before loading anything.
func (b *Builder) Limit(ctx context.Context, l Limits) {
	b.guard = &loadGuard{ctx: ctx, limits: l}
}

// DeclaredAt sets where the zone is declared (a config file line), used for
// errors that belong to no record, such as a missing SOA.
func (b *Builder) DeclaredAt(p Pos) { b.at = p }

// NewBuilder starts a zone for origin (any case; made fully qualified).
func NewBuilder(origin string) *Builder {
	return &Builder{
		origin: dns.CanonicalName(origin),
		nodes:  make(map[string]*Node),
		buf:    make([]byte, 0, 65535+512),
		guard:  &loadGuard{ctx: context.Background()},
	}
}

// Origin returns the zone's origin, lowercase and fully qualified.
func (b *Builder) Origin() string { return b.origin }

// Add adds one record. Records outside the zone or of a class other than IN
// are errors, reported by Build with pos. rr is consumed (its header is
// changed).
func (b *Builder) Add(rr dns.RR, pos Pos) {
	owner, rec, err := pack(rr, b.origin, b.buf[:cap(b.buf)])
	if err != nil {
		b.errs = append(b.errs, &Error{File: pos.File, Line: pos.Line, Err: err})
		return
	}
	b.file(owner, rec, pos)
}

// pack checks that rr may be served in the zone of origin and returns its
// owner and its wire form without the owner (in buf). rr is consumed.
func pack(rr dns.RR, origin string, buf []byte) (string, []byte, error) {
	h := rr.Header()
	owner := lower(h.Name) // the parser makes names fully qualified
	switch {
	case !inZone(owner, origin):
		return "", nil, fmt.Errorf("record %q is outside zone %s: its owner must be %s or a name below it", compact(rr), origin, origin)
	case h.Class != dns.ClassINET:
		return "", nil, fmt.Errorf("record %q has class %s: only IN is served", compact(rr), dns.ClassToString[h.Class])
	case h.Rrtype == dns.TypeOPT || h.Rrtype == dns.TypeTSIG || h.Rrtype == dns.TypeTKEY:
		return "", nil, fmt.Errorf("record %q: type %s cannot appear in zone data", compact(rr), dns.TypeToString[h.Rrtype])
	}
	// Packed with the root as owner: the record without its name.
	h.Name = "."
	off, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		h.Name = owner
		return "", nil, fmt.Errorf("record %q cannot be encoded: %v", compact(rr), err)
	}
	return owner, buf[1:off], nil
}

// lower is dns.CanonicalName for a fully qualified name, without the copy
// when the name is lowercase already, as almost every name in a file is.
func lower(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			return dns.CanonicalName(name)
		}
	}
	return name
}

// file adds a packed record to its owner's node.
func (b *Builder) file(owner string, rec []byte, pos Pos) {
	if max := b.guard.limits.MaxRecords; max > 0 && b.size >= max {
		if !b.tooMany {
			b.tooMany = true
			b.guard.stop.Store(true)
			b.fail(pos, "zone %s has more than %d records, the most a zone may hold here (zone_max_records); the rest were not read", b.origin, max)
		}
		return
	}
	n := b.last
	if n == nil || n.Name != owner { // records of one name usually come together
		n = b.node(owner, pos)
		b.last = n
	}
	p := b.recs.add(rec)
	if n.tail != 0 {
		b.recs.link(n.tail, p)
	} else {
		n.head = p
	}
	n.tail = p
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
	i, ok := dynIndex(t)
	if !ok {
		b.fail(pos, "%s: only A and AAAA can be dynamic, not %s", owner, dns.TypeToString[t])
		return
	}
	n := b.node(owner, pos)
	if n.dyn[i] != 0 {
		b.fail(pos, "%s %s is already served by another pool", owner, dns.TypeToString[t])
		return
	}
	n.dyn[i] = int32(id) + 1
}

func (b *Builder) node(owner string, pos Pos) *Node {
	n := b.nodes[owner]
	if n == nil {
		n = b.newNode(owner)
		n.line, n.file = int32(pos.Line), b.fileIndex(pos.File)
	}
	return n
}

// inZone reports whether name is origin or below it; both lowercase, fully
// qualified, in presentation form. It is dns.IsSubDomain without the label
// splitting, which a million records notice.
func inZone(name, origin string) bool {
	if origin == "." || name == origin {
		return true
	}
	if len(name) <= len(origin) || name[len(name)-len(origin):] != origin || name[len(name)-len(origin)-1] != '.' {
		return false
	}
	return !escaped(name, len(name)-len(origin)-1) // "a\.example." is not below "example."
}

// newNode adds a node from the builder's arena: nodes are allocated a
// thousand at a time, which saves the per-object overhead of a million
// small allocations.
func (b *Builder) newNode(name string) *Node {
	if len(b.arena) == 0 || len(b.arena[len(b.arena)-1]) == cap(b.arena[len(b.arena)-1]) {
		b.arena = append(b.arena, make([]Node, 0, 1024))
	}
	name = b.names.intern(name)
	chunk := &b.arena[len(b.arena)-1]
	*chunk = append(*chunk, Node{Name: name})
	n := &(*chunk)[len(*chunk)-1]
	b.nodes[name] = n
	return n
}

func (b *Builder) fileIndex(f string) uint16 {
	for i := len(b.files) - 1; i >= 0; i-- {
		if b.files[i] == f {
			return uint16(i)
		}
	}
	b.files = append(b.files, f)
	return uint16(len(b.files) - 1)
}

// pos returns where n was first seen.
func (b *Builder) pos(n *Node) Pos {
	if int(n.file) < len(b.files) && n.line > 0 {
		return Pos{File: b.files[n.file], Line: int(n.line)}
	}
	return b.at
}

func (b *Builder) fail(pos Pos, format string, args ...any) {
	b.errs = append(b.errs, &Error{File: pos.File, Line: pos.Line, Err: fmt.Errorf(format, args...)})
}

// Err returns the errors found so far (nil when none).
func (b *Builder) Err() error { return errors.Join(b.errs...) }

// Build validates the zone and returns it. All problems found are returned
// together, each an *Error.
func (b *Builder) Build() (*Zone, error) {
	if err := b.guard.ctx.Err(); err != nil {
		b.fail(b.at, "zone %s: loading stopped before the end: %v", b.origin, err)
		return nil, b.Err()
	}
	if b.tooMany {
		return nil, b.Err()
	}
	apex := b.nodes[b.origin]
	if apex == nil {
		apex = b.newNode(b.origin)
	}
	b.compact()
	z := &Zone{Origin: b.origin, Apex: apex, nodes: b.nodes, labels: dns.CountLabel(b.origin), size: b.size}
	if !b.broken {
		b.checkApex(z)
	}
	// Empty non-terminals exist (RFC 4592 §2.2.2): add every missing
	// ancestor between an owner and the apex. New nodes are appended to
	// the arena behind the ones walked; their ancestors exist by then.
	cuts, dnames := false, false
	for _, n := range b.allNodes() {
		for p := parent(n.Name); p != "" && len(p) > len(b.origin); p = parent(p) {
			if _, ok := b.nodes[p]; ok {
				break
			}
			b.newNode(p)
		}
		z.index(n.Name)
		n.Cut = n != apex && n.Has(dns.TypeNS)
		cuts = cuts || n.Cut
		n.DName = n.Has(dns.TypeDNAME)
		dnames = dnames || n.DName
		b.checkNode(n, apex)
	}
	if cuts {
		// A node is occluded when its parent is a cut or is occluded:
		// each node looks at its parent once, memoized (0 unknown, 1 no,
		// 2 yes), so deep names cost no more than shallow ones.
		memo := make(map[*Node]uint8, len(b.nodes))
		var occluded func(n *Node) bool
		occluded = func(n *Node) bool {
			if n == apex {
				return false
			}
			if m := memo[n]; m != 0 {
				return m == 2
			}
			p := b.nodes[parent(n.Name)]
			o := p != apex && (p.Cut || occluded(p))
			memo[n] = 1
			if o {
				memo[n] = 2
			}
			return o
		}
		for _, n := range b.allNodes() {
			n.Occluded = occluded(n)
			if n.Occluded || n.Cut {
				for _, d := range n.Dynamics() {
					b.fail(b.pos(n), "%s %s is at or below the delegation to another server; a pool must lie in authoritative data", n.Name, dns.TypeToString[d.Type])
				}
			}
		}
	}
	if dnames {
		b.checkBelowDName()
	}
	if err := b.Err(); err != nil {
		return nil, err
	}
	return z, nil
}

// checkBelowDName refuses a pool below a DNAME's owner: no query could
// reach it (RFC 6672 §2.4: nothing may exist below a DNAME). A DNAME at or
// below a cut is glue, not a redirection.
func (b *Builder) checkBelowDName() {
	for _, n := range b.allNodes() {
		if n.Occluded || n.Cut {
			n.DName = false
		}
	}
	for _, n := range b.allNodes() {
		dyn := n.Dynamics()
		if len(dyn) == 0 {
			continue
		}
		for p := parent(n.Name); p != "" && len(p) >= len(b.origin); p = parent(p) {
			if d := b.nodes[p]; d != nil && d.DName {
				for _, t := range dyn {
					b.fail(b.pos(n), "%s %s is below the DNAME at %s, which redirects every name below it: no query can reach the pool; move the pool or the DNAME", n.Name, dns.TypeToString[t.Type], p)
				}
				break
			}
		}
	}
}

// allNodes returns every node so far, walking the arena; a node added while
// the walk goes on is walked too.
func (b *Builder) allNodes() func(yield func(int, *Node) bool) {
	return func(yield func(int, *Node) bool) {
		k := 0
		for c := 0; c < len(b.arena); c++ {
			for i := 0; i < len(b.arena[c]); i++ {
				if !yield(k, &b.arena[c][i]) {
					return
				}
				k++
			}
		}
	}
}

// compact moves every name's records from the load arena into one array,
// each name's sorted by type (stable: file order within a type) and
// without duplicates (RFC 2181 §5: an RRset has none; TTLs aside).
func (b *Builder) compact() {
	all := make([]byte, 0, b.recs.bytes)
	var recs []rec
	for _, n := range b.allNodes() {
		if n.head == 0 {
			continue
		}
		recs = recs[:0]
		for p := n.head; p != 0; {
			r, next := b.recs.at(p)
			recs = append(recs, rec{t: binary.BigEndian.Uint16(r), b: r})
			p = next
		}
		n.head, n.tail = 0, 0
		b.size -= sortRecords(recs)
		start := len(all)
		for _, r := range recs {
			if !r.seen {
				all = append(all, r.b...)
			}
		}
		n.data = all[start:len(all):len(all)]
	}
	b.recs = recordArena{}
	b.last = nil
}

// rec is one record of a name being compacted.
type rec struct {
	t    uint16
	b    []byte
	seen bool // a duplicate of an earlier one
}

// sortRecords orders recs by type, stably, and marks duplicates; it
// returns how many it marked.
func sortRecords(recs []rec) int {
	sorted := true
	for i := 1; i < len(recs); i++ {
		if recs[i].t <= recs[i-1].t {
			sorted = false
			break
		}
	}
	if sorted {
		return 0 // types strictly increasing: nothing to order, no duplicates
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].t < recs[j].t })
	// Duplicates: pairwise for the usual handful, by content beyond that.
	dropped := 0
	for i := 0; i < len(recs); {
		j := i
		for j < len(recs) && recs[j].t == recs[i].t {
			j++
		}
		set := recs[i:j]
		if len(set) <= 8 {
			for a := range set {
				for c := a + 1; c < len(set); c++ {
					if !set[c].seen && !set[a].seen && sameRecord(set[a].b, set[c].b) {
						set[c].seen = true
						dropped++
					}
				}
			}
		} else {
			have := make(map[string]bool, len(set))
			for a := range set {
				k := string(set[a].b[:4]) + string(set[a].b[8:]) // all but the TTL
				if have[k] {
					set[a].seen = true
					dropped++
				}
				have[k] = true
			}
		}
		i = j
	}
	return dropped
}

// sameRecord compares two packed records but for their TTLs.
func sameRecord(a, b []byte) bool {
	return len(a) == len(b) && string(a[:4]) == string(b[:4]) && string(a[8:]) == string(b[8:])
}

func (b *Builder) checkApex(z *Zone) {
	at := b.pos(z.Apex)
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
	if !z.Apex.Has(dns.TypeNS) {
		b.fail(at, "zone %s has no NS records at its apex: add at least one, e.g. \"@ 3600 IN NS ns1.%s\"", b.origin, b.origin)
	}
}

func (b *Builder) checkNode(n, apex *Node) {
	if n.Empty() {
		return
	}
	at := b.pos(n)
	if n != apex && n.Has(dns.TypeSOA) {
		b.fail(at, "SOA record at %s: only the zone apex %s may have one", n.Name, b.origin)
	}
	b.checkSizes(n, at)
	for _, d := range n.Dynamics() {
		if n.Has(d.Type) {
			b.fail(at, "%s has %s records in the zone and a pool for %s: remove one of them", n.Name, dns.TypeToString[d.Type], dns.TypeToString[d.Type])
		}
	}
	if d := n.count(dns.TypeDNAME); d > 1 {
		b.fail(at, "%s has %d DNAME records: a name can redirect its subtree to only one name (RFC 6672 §2.4)", n.Name, d)
	}
	cnames := n.count(dns.TypeCNAME)
	if cnames > 1 {
		b.fail(at, "%s has %d CNAME records: a name can be an alias of only one name", n.Name, cnames)
	}
	if cnames == 0 {
		return
	}
	if n == apex {
		b.fail(at, "CNAME at the zone apex %s: the apex must hold SOA and NS, which a CNAME forbids", n.Name)
	}
	for _, t := range n.Types() {
		switch t {
		case dns.TypeCNAME, dns.TypeRRSIG, dns.TypeNSEC:
		default:
			b.fail(at, "%s has a CNAME and a %s record: a CNAME cannot share its name with other data (RFC 1034 §3.6.2)", n.Name, dns.TypeToString[t])
		}
	}
	for _, d := range n.Dynamics() {
		b.fail(at, "%s is a CNAME and cannot also be a pool (%s)", n.Name, dns.TypeToString[d.Type])
	}
}

// maxMessage is the largest DNS message (RFC 1035 §4.2.2: a TCP message's
// length is 16 bits).
const maxMessage = 65535

// checkSizes refuses an RRset that no response can hold: the header, the
// question and each record with its owner compressed to two bytes must fit
// in a DNS message, or the name could only ever be answered with TC.
func (b *Builder) checkSizes(n *Node, at Pos) {
	fixed := headerLen + len(n.Name) + 1 + 4
	if fixed+len(n.data)*6/5 <= maxMessage {
		return // each record is at least 10 bytes: its 2-byte owner adds a fifth at most
	}
	size, count := fixed, 0
	for off := 0; off < len(n.data); {
		t, next := n.record(off)
		size += 2 + next - off
		count++
		if next >= len(n.data) || binary.BigEndian.Uint16(n.data[next:]) != t {
			if size > maxMessage {
				b.fail(at, "%s has %d %s records, a response of %d bytes: a DNS message holds at most %d, so it could never be answered; split the records among several names", n.Name, count, dns.TypeToString[t], size, maxMessage)
			}
			size, count = fixed, 0
		}
		off = next
	}
}

const headerLen = 12

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
