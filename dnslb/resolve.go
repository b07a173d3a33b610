package dnslb

import (
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/dnssec"
	"github.com/dnslb/dnslb/zones"
)

// maxChase bounds CNAME chains followed inside a zone (loops included).
const maxChase = 8

// anyTTL is the TTL of the RFC 8482 answer to ANY, as Cloudflare uses.
const anyTTL = 3789

// How resolve builds an answer.
const (
	resolveFull          = iota
	resolveNoAdditional  // drop optional additional records and glue, to fit
	resolveNoPoolMembers // a pool has nothing to serve: NODATA at its name
)

// resolve builds the answer to (qname, qtype) in class IN, qname lowercase
// and fully qualified. It is the general path: every response the fast path
// sends was built here first. With do, a signed zone's answer carries its
// RRSIGs and compact denial (sign.go), made or reused at now.
func (s *snapshot) resolve(qname string, qtype uint16, key string, mode int, do bool, now int64) (*answer, error) {
	noAdditional := mode == resolveNoAdditional
	m := new(dns.Msg)
	m.Response = true
	m.Question = []dns.Question{{Name: qname, Qtype: qtype, Qclass: dns.ClassINET}}
	switch qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		m.Rcode = dns.RcodeRefused // no zone transfers
		return newAnswer(m, key, "", nil, shrinkAll)
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeMAILA, dns.TypeMAILB, dnssec.TypeNXNAME:
		m.Rcode = dns.RcodeFormatError // meta types are not questions (RFC 6895 §3.1, RFC 9824 §3.5)
		return newAnswer(m, key, "", nil, shrinkAll)
	}
	z := s.zones.Find(qname, qtype)
	if z == nil {
		m.Rcode = dns.RcodeRefused // not ours: no AA, no data
		return newAnswer(m, key, "", nil, shrinkAll)
	}
	m.Authoritative = true
	shrink := shrinkAll
	name := qname
	seen := 0
	sg := s.signers[z.Origin]
	var sn *signing
	if sg != nil && do {
		sn = &signing{sg: sg, now: time.Unix(0, now), negTTL: z.NegativeSOA.Hdr.Ttl}
		if qtype == dns.TypeRRSIG {
			// As PowerDNS and gdnsd do: signatures are made per RRset when
			// it is served, not kept as an RRset to list, and no NSEC
			// could deny RRSIG (every bitmap holds it).
			m.Authoritative = false
			m.Rcode = dns.RcodeRefused
			return newAnswer(m, key, z.Origin, nil, shrinkAll)
		}
	}
	for {
		var r zones.Result
		if sg != nil && name == z.Origin && apexKeys(sg, qtype) != nil {
			r = zones.Result{Kind: zones.Answer, Node: z.Apex, Records: apexKeys(sg, qtype)}
		} else {
			r = z.Lookup(name, qtype)
		}
		if sn != nil && qtype == dns.TypeNSEC && nsecAnswer(m, z, r, name, sn) {
			return signedAnswer(m, key, z.Origin, nil, shrinkAll, sn, nil)
		}
		switch r.Kind {
		case zones.Answer:
			m.Answer = append(m.Answer, owned(r.Records, name, r.Wildcard)...)
			if sn != nil && r.Wildcard {
				sn.wildcard(m, name, r.Node.Name)
			}
			if !noAdditional {
				m.Extra = s.additional(z, r.Records, m.Extra, false)
				if len(m.Extra) > 0 {
					shrink = shrinkAdditional
				}
			}
		case zones.NoData:
			if qtype == dns.TypeANY && !r.Node.Empty() {
				// RFC 8482 §4.2: one synthesized HINFO instead of every RRset.
				m.Answer = append(m.Answer, &dns.HINFO{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: anyTTL}, Cpu: "RFC8482"})
			} else {
				m.Ns = append(m.Ns, z.NegativeSOA)
				if sn != nil {
					sn.nodata(m, name, types(z, r.Node, 0))
				}
			}
		case zones.NXDomain:
			m.Rcode = dns.RcodeNameError // after a CNAME too: the rcode is the last name's (RFC 6604)
			m.Ns = append(m.Ns, z.NegativeSOA)
			if sn != nil {
				m.Rcode = dns.RcodeSuccess // RFC 9824 §3.2: the name "exists" with NXNAME only
				sn.nxname(m, name)
			}
		case zones.Referral:
			// RFC 1034 §4.3.2 step 3b, also after a CNAME (then the alias
			// stays authoritative, as in NSD and Knot).
			m.Authoritative = len(m.Answer) > 0
			m.Ns = append(m.Ns, r.Records...)
			if sn != nil {
				// The parent side proves the child signed (DS) or not (RFC 4035 §3.1.4).
				sn.referral = true
				if ds := r.Node.RRset(dns.TypeDS); ds != nil {
					m.Ns = append(m.Ns, ds...)
				} else {
					sn.nodata(m, r.Node.Name, types(z, r.Node, 0))
				}
			}
			if !noAdditional {
				m.Extra = s.additional(z, r.Records, m.Extra, true)
			}
			shrink = shrinkGlue
		case zones.CNAME:
			m.Answer = append(m.Answer, owned(r.Records, name, r.Wildcard)...)
			if sn != nil && r.Wildcard {
				sn.wildcard(m, name, r.Node.Name)
			}
			target := dns.CanonicalName(r.Records[0].(*dns.CNAME).Target)
			seen++
			if qtype == dns.TypeANY || !z.Contains(target) || seen >= maxChase || target == qname || inAnswer(m.Answer, target) {
				break // ANY matches the alias itself; out of zone (not ours to chase), too long, or a loop
			}
			name = target
			continue
		case zones.DNAME:
			// RFC 6672 §3.2: the DNAME, then a CNAME synthesized from it
			// (TTL the DNAME's), chased as a CNAME is.
			d := r.Records[0].(*dns.DNAME)
			m.Answer = append(m.Answer, d)
			target := name[:len(name)-len(r.Node.Name)] + dns.CanonicalName(d.Target)
			if _, ok := dns.IsDomainName(target); !ok {
				m.Rcode = dns.RcodeYXDomain // the substitution overflows a name
				break
			}
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.Hdr.Ttl}, Target: target})
			if sn != nil {
				sn.unsigned(name) // the DNAME's RRSIG vouches for it (RFC 6672 §5.3.1)
			}
			seen++
			// ANY goes on too, as in NSD: the CNAME is not at the name.
			if qtype == dns.TypeCNAME || !z.Contains(target) || seen >= maxChase || inAnswer(m.Answer, target) {
				break
			}
			name = target
			continue
		case zones.Dynamic:
			if mode != resolveNoPoolMembers {
				// Signing: the CNAMEs before it now, the members as listed
				// (poolSigs, when rendered). A pool at a wildcard is signed
				// as the name asked for, as if it existed.
				var ps *poolSigs
				if sn != nil {
					ps = &poolSigs{sg: sg, owner: name}
					// The pool's records end the response: no room for a
					// wildcard's proof in the authority section, so a
					// wildcard CNAME here is signed as the name asked for.
					sn.wild, m.Ns = nil, nil
				}
				return signedAnswer(m, key, z.Origin, s.pools[r.DynamicID].family(qtype), shrinkAll, sn, ps)
			}
			m.Ns = append(m.Ns, z.NegativeSOA)
			if sn != nil {
				sn.nodata(m, name, types(z, r.Node, qtype))
			}
		}
		return signedAnswer(m, key, z.Origin, nil, shrink, sn, nil)
	}
}

// nsecAnswer answers an NSEC query in a signed zone with the compact NSEC
// at name (as PowerDNS and gdnsd answer it): the types the name has, or
// NXNAME where it does not exist; also at a CNAME's owner and at a cut,
// where the NSEC is the parent's. A NODATA could not deny NSEC: every
// bitmap holds it. It reports whether it answered; below a cut or a DNAME
// the usual answer follows.
func nsecAnswer(m *dns.Msg, z *zones.Zone, r zones.Result, name string, sn *signing) bool {
	var ts []uint16
	switch r.Kind {
	case zones.DNAME, zones.Answer:
		return false
	case zones.Referral:
		if r.Node.Name != name {
			return false // below the cut: the child's
		}
		ts = types(z, r.Node, 0)
	case zones.NXDomain:
		sn.nx = true
		ts = []uint16{dnssec.TypeNXNAME}
	default:
		ts = types(z, r.Node, 0)
	}
	m.Authoritative = true
	m.Answer = append(m.Answer, dnssec.NSEC(name, ts, sn.negTTL))
	return true
}

// signedAnswer signs m when sn is set, then packs it (newAnswer).
func signedAnswer(m *dns.Msg, key, zone string, fam *family, shrink int, sn *signing, ps *poolSigs) (*answer, error) {
	if sn == nil {
		return newAnswer(m, key, zone, fam, shrink)
	}
	if err := sn.signMsg(m, zone); err != nil {
		return nil, err
	}
	a, err := newAnswer(m, key, zone, fam, shrink)
	if err != nil {
		return nil, err
	}
	a.sigs, a.nxname = ps, sn.nx
	if sn.nx {
		a.rcode = dns.RcodeNameError // counted as what it means, not as the NOERROR sent
	}
	if !sn.refresh.IsZero() {
		a.refresh = sn.refresh.UnixNano()
	}
	if fam != nil {
		// The pool's records follow the last CNAME's target, not its RRSIG.
		for i := len(m.Answer) - 1; i >= 0; i-- {
			if m.Answer[i].Header().Rrtype == dns.TypeCNAME {
				a.owner = uint16(lastRdataOffset(a.wire, i+1))
				break
			}
		}
	}
	return a, nil
}

// owned returns rrs, with owner names set to name when synthesized from a
// wildcard (RFC 4592 §3.4.1). Lookup decodes records for each call, so
// they are changed in place: nothing else holds them.
func owned(rrs []dns.RR, name string, wildcard bool) []dns.RR {
	if wildcard {
		for _, rr := range rrs {
			rr.Header().Name = name
		}
	}
	return rrs
}

func inAnswer(rrs []dns.RR, name string) bool {
	for _, rr := range rrs {
		if rr.Header().Name == name {
			return true
		}
	}
	return false
}

// additional appends the in-zone addresses of the names that rrs point to
// (NS, MX and SRV targets): glue when glue is set (a referral), else only
// authoritative addresses.
func (s *snapshot) additional(z *zones.Zone, rrs []dns.RR, extra []dns.RR, glue bool) []dns.RR {
	for _, rr := range rrs {
		var target string
		switch rr := rr.(type) {
		case *dns.NS:
			target = rr.Ns
		case *dns.MX:
			target = rr.Mx
		case *dns.SRV:
			target = rr.Target
		default:
			continue
		}
		target = dns.CanonicalName(target)
		if !z.Contains(target) || inAnswer(extra, target) {
			continue
		}
		a, aaaa := z.Addresses(target, glue)
		extra = append(extra, a...)
		extra = append(extra, aaaa...)
	}
	return extra
}
