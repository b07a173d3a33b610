package dnslb

import (
	"github.com/miekg/dns"

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
// sends was built here first.
func (s *snapshot) resolve(qname string, qtype uint16, key string, mode int) (*answer, error) {
	noAdditional := mode == resolveNoAdditional
	m := new(dns.Msg)
	m.Response = true
	m.Question = []dns.Question{{Name: qname, Qtype: qtype, Qclass: dns.ClassINET}}
	switch qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		m.Rcode = dns.RcodeRefused // no zone transfers
		return newAnswer(m, key, "", nil, shrinkAll)
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeMAILA, dns.TypeMAILB:
		m.Rcode = dns.RcodeFormatError // meta types are not questions (RFC 6895 §3.1)
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
	for {
		r := z.Lookup(name, qtype)
		switch r.Kind {
		case zones.Answer:
			m.Answer = append(m.Answer, owned(r.Records, name, r.Wildcard)...)
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
			}
		case zones.NXDomain:
			m.Rcode = dns.RcodeNameError // after a CNAME too: the rcode is the last name's (RFC 6604)
			m.Ns = append(m.Ns, z.NegativeSOA)
		case zones.Referral:
			// RFC 1034 §4.3.2 step 3b, also after a CNAME (then the alias
			// stays authoritative, as in NSD and Knot).
			m.Authoritative = len(m.Answer) > 0
			m.Ns = append(m.Ns, r.Records...)
			if !noAdditional {
				m.Extra = s.additional(z, r.Records, m.Extra, true)
			}
			shrink = shrinkGlue
		case zones.CNAME:
			m.Answer = append(m.Answer, owned(r.Records, name, r.Wildcard)...)
			target := dns.CanonicalName(r.Records[0].(*dns.CNAME).Target)
			seen++
			if qtype == dns.TypeANY || !z.Contains(target) || seen >= maxChase || target == qname || inAnswer(m.Answer, target) {
				break // ANY matches the alias itself; out of zone (not ours to chase), too long, or a loop
			}
			name = target
			continue
		case zones.Dynamic:
			if mode != resolveNoPoolMembers {
				return newAnswer(m, key, z.Origin, s.pools[r.DynamicID].family(qtype), shrinkAll)
			}
			m.Ns = append(m.Ns, z.NegativeSOA)
		}
		return newAnswer(m, key, z.Origin, nil, shrink)
	}
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
