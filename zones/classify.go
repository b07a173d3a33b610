package zones

import "github.com/miekg/dns"

// FindBytes is Find for a name given as bytes (lowercase, fully qualified,
// no escapes), without allocating. It does not apply Find's DS rule:
// callers answer DS through Find.
func (s *Set) FindBytes(qname []byte) *Zone {
	for off := 0; off < len(qname); {
		if s.lens.has(len(qname) - off) {
			if z := s.zones[string(qname[off:])]; z != nil {
				return z
			}
		}
		for off < len(qname) && qname[off] != '.' {
			off++
		}
		off++
	}
	return s.zones["."]
}

// Classify is Lookup without decoding records and without allocating, for
// answers built from wire pieces: qname as bytes (lowercase, fully
// qualified, at or below the origin, no escapes), never DS. It returns
// Lookup's Kind, Node and Wildcard.
func (z *Zone) Classify(qname []byte, qtype uint16) (kind Kind, node *Node, wildcard bool) {
	encloser := z.Apex
	end := len(qname) - len(z.Origin)
	if z.Origin == "." && len(qname) > 1 {
		end = len(qname)
	}
	for end > 0 {
		if encloser.DName {
			return DNAME, encloser, false // RFC 6672 §3.2, as Lookup
		}
		start := end - 1
		for start > 0 && qname[start-1] != '.' {
			start--
		}
		var n *Node
		if z.lens.has(len(qname) - start) {
			n = z.nodes[string(qname[start:])]
		}
		if n == nil {
			// RFC 4592 §3.3.1: only "*.<closest encloser>" can match.
			if !z.wildLens.has(len(encloser.Name)) {
				return NXDomain, encloser, false
			}
			var buf [2 + 255]byte
			w := z.nodes[string(append(append(buf[:0], '*', '.'), encloser.Name...))]
			if w == nil {
				return NXDomain, encloser, false
			}
			k, _ := classifyData(w, qtype)
			return k, w, true
		}
		if n.Cut {
			return Referral, n, false
		}
		encloser = n
		end = start
	}
	k, _ := classifyData(encloser, qtype)
	return k, encloser, false
}

// classifyData is data's Kind, without decoding.
func classifyData(n *Node, qtype uint16) (Kind, int) {
	if qtype != dns.TypeCNAME && n.Has(dns.TypeCNAME) {
		return CNAME, 0
	}
	if id, ok := n.Dynamic(qtype); ok {
		return Dynamic, id
	}
	if n.Has(qtype) {
		return Answer, 0
	}
	return NoData, 0
}

// DynamicID is the caller's number of n's dynamic RRset of type t (see
// Classify's Dynamic kind).
func (n *Node) DynamicID(t uint16) int {
	id, _ := n.Dynamic(t)
	return id
}

// Wire returns the records of type t at n in wire form, without their
// owner: TYPE CLASS TTL RDLENGTH RDATA each, names in RDATA uncompressed.
// The slice is shared: never change it.
func (n *Node) Wire(t uint16) []byte {
	start, end := -1, len(n.data)
	for off := 0; off < len(n.data); {
		rt, next := n.record(off)
		if rt > t {
			end = off
			break
		}
		if rt == t && start < 0 {
			start = off
		}
		off = next
	}
	if start < 0 {
		return nil
	}
	return n.data[start:end:end]
}
