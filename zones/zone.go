// Package zones holds authoritative zone data: it loads RFC 1035 master files
// and inline records, builds an immutable name tree per zone, and looks names
// up following RFC 1034 §4.3.2 and RFC 4592. It knows nothing of pools or
// health: a name can carry a "dynamic" RRset, an opaque number the caller
// resolves at query time.
package zones

import (
	"encoding/binary"
	"iter"
	"sort"

	"github.com/miekg/dns"
)

// DynamicRRset marks an RRset whose records are chosen per query by the caller
// (a pool); ID is the caller's number for it. Only A and AAAA can be dynamic.
type DynamicRRset struct {
	Type uint16
	ID   int
}

// Node is one owner name in a zone. A node without records or dynamics is
// an empty non-terminal.
//
// Records are kept in wire form, sorted by type — TYPE CLASS TTL RDLENGTH
// RDATA each, the owner left out and names in RDATA uncompressed — and
// decoded only when asked for: a zone of a million records then costs a
// fraction of the memory of parsed records, and the garbage collector has
// almost nothing to scan. Answers are decoded once per question and then
// served from the answer cache.
type Node struct {
	Name     string // lowercase, fully qualified
	data     []byte
	dyn      [2]int32 // dynamic IDs + 1 of A and AAAA (0: none)
	line     int32    // where the name was first seen, for errors
	head     uint32   // while loading: the first and last records in the arena (position + 1)
	tail     uint32
	file     uint16 // (index in Builder.files)
	Cut      bool   // NS below the apex: a delegation point
	Occluded bool   // strictly below a delegation point: glue, not authoritative
	DName    bool   // has a DNAME (and is authoritative): names below it are redirected
}

// dynIndex is where a dynamic type is kept in Node.dyn; only A and AAAA
// can be dynamic.
func dynIndex(t uint16) (int, bool) {
	switch t {
	case dns.TypeA:
		return 0, true
	case dns.TypeAAAA:
		return 1, true
	}
	return 0, false
}

// rrHeaderLen is TYPE CLASS TTL RDLENGTH.
const rrHeaderLen = 10

// record returns the type of the record at off in n.data and where the
// next one starts.
func (n *Node) record(off int) (t uint16, next int) {
	return binary.BigEndian.Uint16(n.data[off:]), off + rrHeaderLen + int(binary.BigEndian.Uint16(n.data[off+8:]))
}

// Has reports whether n has records of type t.
func (n *Node) Has(t uint16) bool { return n.count(t) > 0 }

// count returns how many records of type t n has (records are sorted by
// type once built).
func (n *Node) count(t uint16) int {
	c := 0
	for off := 0; off < len(n.data); {
		rt, next := n.record(off)
		if rt > t {
			break
		}
		if rt == t {
			c++
		}
		off = next
	}
	return c
}

// Types returns the types n has records of, in order.
func (n *Node) Types() []uint16 {
	var ts []uint16
	for off := 0; off < len(n.data); {
		t, next := n.record(off)
		if len(ts) == 0 || ts[len(ts)-1] != t {
			ts = append(ts, t)
		}
		off = next
	}
	return ts
}

// RRset returns the records of type t at n, or nil. They are decoded anew
// for each call: the caller owns them.
func (n *Node) RRset(t uint16) []dns.RR {
	var rrs []dns.RR
	for off := 0; off < len(n.data); {
		rt, next := n.record(off)
		if rt > t {
			break
		}
		if rt == t {
			h := dns.RR_Header{
				Name: n.Name, Rrtype: rt, Class: binary.BigEndian.Uint16(n.data[off+2:]),
				Ttl: binary.BigEndian.Uint32(n.data[off+4:]), Rdlength: binary.BigEndian.Uint16(n.data[off+8:]),
			}
			// It was packed from a parsed record: decoding cannot fail. The
			// slice ends with the record: TXT-like RDATA reads to the end.
			if rr, _, err := dns.UnpackRRWithHeader(h, n.data[:next], off+rrHeaderLen); err == nil {
				rrs = append(rrs, rr)
			}
		}
		off = next
	}
	return rrs
}

// Dynamic returns the dynamic ID of type t at n.
func (n *Node) Dynamic(t uint16) (int, bool) {
	if i, ok := dynIndex(t); ok && n.dyn[i] != 0 {
		return int(n.dyn[i]) - 1, true
	}
	return 0, false
}

// Dynamics returns n's dynamic RRsets, A before AAAA.
func (n *Node) Dynamics() []DynamicRRset {
	var out []DynamicRRset
	for i, t := range [2]uint16{dns.TypeA, dns.TypeAAAA} {
		if n.dyn[i] != 0 {
			out = append(out, DynamicRRset{Type: t, ID: int(n.dyn[i]) - 1})
		}
	}
	return out
}

// Empty reports whether n is an empty non-terminal.
func (n *Node) Empty() bool { return len(n.data) == 0 && n.dyn == [2]int32{} }

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
	// Filters for Classify, so that a name that never repeats costs few
	// map lookups: the lengths of the names in nodes, and of the names
	// that own a wildcard child. Both may hold lengths no longer there
	// (an edit removed the name): they only rule out.
	lens, wildLens lengths
}

// lengths is a set of name lengths (0-255), a bit each.
type lengths [4]uint64

func (l *lengths) add(n int) {
	if n < 256 {
		l[n>>6] |= 1 << (n & 63)
	}
}

// has reports whether n may be in l: lengths over 255 always may.
func (l *lengths) has(n int) bool { return n >= 256 || l[n>>6]&(1<<(n&63)) != 0 }

// index records name, a node of z, in z's filters.
func (z *Zone) index(name string) {
	z.lens.add(len(name))
	if len(name) > 2 && name[0] == '*' && name[1] == '.' {
		z.wildLens.add(len(name) - 2)
	}
}

// Node returns the node named name (lowercase, fully qualified), or nil.
func (z *Zone) Node(name string) *Node { return z.nodes[name] }

// Len returns the number of records in the zone.
func (z *Zone) Len() int { return z.size }

// Nodes returns every node of the zone in no particular order, for walks
// that need no order (a zone transfer): sorting names costs more than the
// walk.
func (z *Zone) Nodes() iter.Seq[*Node] {
	return func(yield func(*Node) bool) {
		for _, n := range z.nodes {
			if !yield(n) {
				return
			}
		}
	}
}

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
