package zones

import (
	"github.com/miekg/dns"
)

// Kind is the outcome of a lookup in one zone.
type Kind uint8

const (
	// Answer: Records is the RRset of the asked type.
	Answer Kind = iota
	// NoData: the name exists (or is an empty non-terminal) without that type.
	NoData
	// NXDomain: the name does not exist and no wildcard covers it.
	NXDomain
	// Referral: the name is at or below a zone cut; Records is the cut's NS RRset.
	Referral
	// CNAME: the name is an alias; Records holds the one CNAME record.
	CNAME
	// Dynamic: the asked type is chosen per query by the caller; see Result.DynamicID.
	Dynamic
	// DNAME: the name lies below a DNAME's owner (RFC 6672): Records holds
	// the one DNAME record, Node its owner; the caller synthesizes the
	// CNAME.
	DNAME
)

func (k Kind) String() string {
	switch k {
	case Answer:
		return "answer"
	case NoData:
		return "nodata"
	case NXDomain:
		return "nxdomain"
	case Referral:
		return "referral"
	case CNAME:
		return "cname"
	case Dynamic:
		return "dynamic"
	case DNAME:
		return "dname"
	}
	return "unknown"
}

// Result is what Lookup found. Records are decoded for each call (see
// Node.RRset): the caller owns them and may change them.
type Result struct {
	Kind      Kind
	Node      *Node    // the node answering (the wildcard node when Wildcard), the cut for a Referral
	Records   []dns.RR // see Kind
	Wildcard  bool     // synthesized from a wildcard: owner names must become the query name
	DynamicID int
}

// Lookup finds qname (lowercase, fully qualified, at or below the origin)
// with type qtype, following RFC 1034 §4.3.2 steps 3a–3c, RFC 4592 and
// RFC 6672. It does not chase CNAMEs or DNAMEs: their results name the next
// name to look up.
func (z *Zone) Lookup(qname string, qtype uint16) Result {
	// Walk from just below the apex down to qname. The first cut on the way
	// wins (step 3b); the first missing name ends the walk at the closest
	// encloser (step 3c).
	encloser := z.Apex
	end := len(qname) - len(z.Origin) // qname[end-1] is the dot before the origin
	if z.Origin == "." && len(qname) > 1 {
		end = len(qname) // the root has no separating dot: start at the final one
	}
	for end > 0 {
		// qname lies strictly below the encloser: a DNAME there redirects
		// the whole subtree (RFC 6672 §3.2, step 3c).
		if encloser.DName {
			return Result{Kind: DNAME, Node: encloser, Records: encloser.RRset(dns.TypeDNAME)}
		}
		start := labelStart(qname, end-1) // the label ending just before qname[end-1]
		name := qname[start:]
		n := z.nodes[name]
		if n == nil {
			return z.wildcard(encloser, qtype)
		}
		if n.Cut {
			// DS lives on the parent side of the cut (RFC 4035 §3.1.4.1).
			if start == 0 && qtype == dns.TypeDS {
				return data(n, qtype, false)
			}
			return Result{Kind: Referral, Node: n, Records: n.RRset(dns.TypeNS)}
		}
		encloser = n
		end = start
	}
	return data(encloser, qtype, false)
}

// labelStart returns where the label ending at qname[dot] (a '.') begins:
// the index just after the previous unescaped dot, or 0.
func labelStart(qname string, dot int) int {
	for i := dot - 1; i >= 0; i-- {
		if qname[i] == '.' && !escaped(qname, i) {
			return i + 1
		}
	}
	return 0
}

// escaped reports whether qname[i] is preceded by an odd number of backslashes.
func escaped(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// wildcard applies RFC 4592 §3.3.1: only "*.<closest encloser>" can match.
func (z *Zone) wildcard(encloser *Node, qtype uint16) Result {
	w := z.nodes["*."+encloser.Name]
	if w == nil {
		return Result{Kind: NXDomain, Node: encloser}
	}
	return data(w, qtype, true)
}

// data answers qtype from an existing, authoritative node.
func data(n *Node, qtype uint16, wildcard bool) Result {
	if qtype != dns.TypeCNAME {
		if c := n.RRset(dns.TypeCNAME); c != nil {
			return Result{Kind: CNAME, Node: n, Records: c, Wildcard: wildcard}
		}
	}
	if id, ok := n.Dynamic(qtype); ok {
		return Result{Kind: Dynamic, Node: n, Wildcard: wildcard, DynamicID: id}
	}
	if rrs := n.RRset(qtype); rrs != nil {
		return Result{Kind: Answer, Node: n, Records: rrs, Wildcard: wildcard}
	}
	return Result{Kind: NoData, Node: n, Wildcard: wildcard}
}

// Addresses returns the A and AAAA records of name if it lies in the zone.
// Glue (names below a cut) is returned only when glue is true: it belongs in
// referrals, not beside authoritative answers.
func (z *Zone) Addresses(name string, glue bool) (a, aaaa []dns.RR) {
	n := z.nodes[dns.CanonicalName(name)]
	if n == nil || (n.Occluded || n.Cut) && !glue {
		return nil, nil
	}
	return n.RRset(dns.TypeA), n.RRset(dns.TypeAAAA)
}

// Contains reports whether name is at or below the zone's origin.
func (z *Zone) Contains(name string) bool { return dns.IsSubDomain(z.Origin, name) }
