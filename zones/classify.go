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

// MayBeOrigin reports whether a zone of s may have an origin length bytes
// long (presentation form).
func (s *Set) MayBeOrigin(length int) bool { return s.lens.has(length) }

// Classify is Lookup without decoding records and without allocating, for
// answers built from wire pieces: qname as bytes (lowercase, fully
// qualified, at or below the origin, no escapes), never DS. It returns
// Lookup's Kind, Node and Wildcard.
func (z *Zone) Classify(qname []byte, qtype uint16) (kind Kind, node *Node, wildcard bool) {
	kind, node, wildcard, _ = z.ClassifyParent(qname, qtype)
	return kind, node, wildcard
}

// ClassifyParent is Classify that also returns the node of qname's parent
// when the walk got there: qname is strictly below the origin and no cut
// or DNAME above the parent stopped the walk. Every name one label below
// that parent is then classified by ClassifyChild without walking again
// (random labels under one name, as in a flood); else parent is nil.
func (z *Zone) ClassifyParent(qname []byte, qtype uint16) (kind Kind, node *Node, wildcard bool, parent *Node) {
	encloser := z.Apex
	end := len(qname) - len(z.Origin)
	if z.Origin == "." && len(qname) > 1 {
		end = len(qname)
	}
	for end > 0 {
		start := end - 1
		for start > 0 && qname[start-1] != '.' {
			start--
		}
		if start == 0 {
			// qname's own label: the last step, the one ClassifyChild takes.
			n := z.NodeBytes(qname)
			var w *Node
			if n == nil {
				w = z.Wildcard(encloser)
			}
			kind, node, wildcard = z.ClassifyChild(encloser, w, n, qtype)
			return kind, node, wildcard, encloser
		}
		if encloser.DName {
			return DNAME, encloser, false, nil // RFC 6672 §3.2, as Lookup
		}
		n := z.NodeBytes(qname[start:])
		if n == nil {
			w := z.Wildcard(encloser)
			if w == nil {
				return NXDomain, encloser, false, nil
			}
			k, _ := classifyData(w, qtype)
			return k, w, true, nil
		}
		if n.Cut {
			return Referral, n, false, nil
		}
		encloser = n
		end = start
	}
	k, _ := classifyData(encloser, qtype)
	return k, encloser, false, nil
}

// ClassifyChild is Classify's last step for a name one label below parent
// (a parent ClassifyParent returned): n is the name's node, nil when it
// has none; wild is Wildcard(parent) (read only when n is nil).
func (z *Zone) ClassifyChild(parent, wild, n *Node, qtype uint16) (kind Kind, node *Node, wildcard bool) {
	if parent.DName {
		return DNAME, parent, false // RFC 6672 §3.2, as Lookup
	}
	if n == nil {
		// RFC 4592 §3.3.1: only "*.<closest encloser>" can match.
		if wild == nil {
			return NXDomain, parent, false
		}
		k, _ := classifyData(wild, qtype)
		return k, wild, true
	}
	if n.Cut {
		return Referral, n, false
	}
	k, _ := classifyData(n, qtype)
	return k, n, false
}

// MayHold reports whether z may have a node whose name is length bytes
// long (presentation form): when false, no name of that length need be
// looked up.
func (z *Zone) MayHold(length int) bool { return z.lens.has(length) }

// NodeBytes is Node for a name given as bytes, without allocating.
func (z *Zone) NodeBytes(name []byte) *Node {
	if !z.lens.has(len(name)) {
		return nil
	}
	return z.nodes[string(name)]
}

// Wildcard returns the wildcard node "*.<n's name>", or nil.
func (z *Zone) Wildcard(n *Node) *Node {
	if !z.wildLens.has(len(n.Name)) {
		return nil
	}
	var buf [2 + 255]byte
	return z.nodes[string(append(append(buf[:0], '*', '.'), n.Name...))]
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
