package dnssec

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Signature timing: inception is backdated for clocks behind ours; a
// signature is replaced once less than a quarter of its validity is left,
// so that no resolver ever holds one near its end.
const (
	Backdate = time.Hour
	Validity = 7 * 24 * time.Hour
	Refresh  = Validity / 4 // re-sign when less than this is left
)

// DefaultCacheSize bounds the signatures a zone keeps (RRsets, not bytes).
const DefaultCacheSize = 100000

// Signer signs RRsets of one zone with its active keys and remembers the
// signatures by RRset content. It is safe for concurrent use; its lock is
// taken only when an answer is first built, never on the cached path.
type Signer struct {
	Zone string
	Keys []*Key
	max  int

	mu        sync.Mutex
	cur, prev map[[32]byte]*Sig
	signed    uint64 // RRsets signed, for tests
	rrsigs    uint64 // RRSIGs made (one per active key and RRset), for metrics
}

// Sig is the RRSIGs of one RRset (one per active key) and when they are
// due to be replaced.
type Sig struct {
	RRSIGs  []*dns.RRSIG
	Refresh time.Time
}

// NewSigner returns a signer for zone holding at most cacheSize RRsets'
// signatures (DefaultCacheSize when 0).
func NewSigner(zone string, keys []*Key, cacheSize int) *Signer {
	if cacheSize <= 0 {
		cacheSize = DefaultCacheSize
	}
	return &Signer{Zone: zone, Keys: keys, max: cacheSize, cur: map[[32]byte]*Sig{}}
}

// Signed returns how many RRsets have been signed so far.
func (s *Signer) Signed() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signed
}

// Signatures returns how many RRSIGs have been made so far, counting
// those of the signer it continues (Continue).
func (s *Signer) Signatures() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rrsigs
}

// Continue makes s count on from old's signatures, so that a zone's count
// does not fall back when its keys change and a new signer takes over.
func (s *Signer) Continue(old *Signer) {
	n := old.Signatures()
	s.mu.Lock()
	s.rrsigs += n
	s.mu.Unlock()
}

// Sign returns the signatures of rrs, one RRset, made at most Validity-
// Refresh ago. The owner of a set synthesized from a wildcard is the
// wildcard ("*.example."): the RRSIG's labels field then tells validators
// so (RFC 4035 §5.3.2), and the caller serves it under the query name. The
// order of rrs does not matter.
func (s *Signer) Sign(rrs []dns.RR, now time.Time) (*Sig, error) {
	key, err := contentKey(rrs)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	sig := s.cur[key]
	if sig == nil {
		if sig = s.prev[key]; sig != nil {
			s.store(key, sig)
		}
	}
	s.mu.Unlock()
	if sig != nil && now.Before(sig.Refresh) {
		return sig, nil
	}
	sig = &Sig{Refresh: now.Add(Validity - Refresh)}
	for _, k := range s.Keys {
		if !k.Active(now) {
			continue
		}
		r := &dns.RRSIG{
			Hdr:        dns.RR_Header{Ttl: rrs[0].Header().Ttl},
			Algorithm:  k.DNSKEY.Algorithm,
			Expiration: uint32(now.Add(Validity).Unix()),
			Inception:  uint32(now.Add(-Backdate).Unix()),
			KeyTag:     k.Tag(),
			SignerName: s.Zone,
		}
		if err := r.Sign(k.Signer, rrs); err != nil {
			return nil, fmt.Errorf("dnssec: signing %s %s: %w", rrs[0].Header().Name, dns.TypeToString[rrs[0].Header().Rrtype], err)
		}
		sig.RRSIGs = append(sig.RRSIGs, r)
	}
	if len(sig.RRSIGs) == 0 {
		return nil, fmt.Errorf("dnssec: zone %s has no active key", s.Zone)
	}
	s.mu.Lock()
	s.store(key, sig)
	s.signed++
	s.rrsigs += uint64(len(sig.RRSIGs))
	s.mu.Unlock()
	return sig, nil
}

// store keeps sig in the current generation; a full generation becomes the
// previous one, whose entries live on only if they are used again. Memory
// stays below two generations of max/2.
func (s *Signer) store(key [32]byte, sig *Sig) {
	if len(s.cur) >= s.max/2+1 {
		s.prev, s.cur = s.cur, make(map[[32]byte]*Sig, len(s.cur))
	}
	s.cur[key] = sig
}

// contentKey identifies an RRset by owner, type, class, TTL and its RDATA
// sorted, so that the same members listed in another order share one
// signature.
func contentKey(rrs []dns.RR) ([32]byte, error) {
	if len(rrs) == 0 {
		return [32]byte{}, fmt.Errorf("dnssec: empty RRset")
	}
	h := rrs[0].Header()
	buf := make([]byte, 0, 512)
	rdata := make([][]byte, 0, len(rrs))
	for _, rr := range rrs {
		b := make([]byte, dns.Len(rr)+16)
		// PackRR sets the header's RDLENGTH: pack a copy, the records
		// may be shared with other queries.
		off, err := dns.PackRR(dns.Copy(rr), b, 0, nil, false)
		if err != nil {
			return [32]byte{}, fmt.Errorf("dnssec: %s: %w", rr.Header().Name, err)
		}
		nameLen, err := dns.PackDomainName(rr.Header().Name, b, 0, nil, false)
		if err != nil {
			return [32]byte{}, fmt.Errorf("dnssec: %s: %w", rr.Header().Name, err)
		}
		rdata = append(rdata, b[nameLen+10:off])
	}
	slices.SortFunc(rdata, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
	buf = append(buf, strings.ToLower(h.Name)...)
	buf = binary.BigEndian.AppendUint16(buf, h.Rrtype)
	buf = binary.BigEndian.AppendUint16(buf, h.Class)
	buf = binary.BigEndian.AppendUint32(buf, h.Ttl)
	for _, r := range rdata {
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(r)))
		buf = append(buf, r...)
	}
	return sha256.Sum256(buf), nil
}

// DNSKEYs returns the zone's DNSKEY RRset: every key read, active or not
// (pre-published keys included), with ttl.
func (s *Signer) DNSKEYs(ttl uint32) []dns.RR {
	var out []dns.RR
	for _, k := range s.Keys {
		d := *k.DNSKEY
		d.Hdr.Ttl = ttl
		out = append(out, &d)
	}
	return out
}

// DS returns the DS records (SHA-256) of the zone's keys for the parent.
func (s *Signer) DS(ttl uint32) []*dns.DS {
	var out []*dns.DS
	for _, k := range s.Keys {
		ds := k.DNSKEY.ToDS(dns.SHA256)
		ds.Hdr.Ttl = ttl
		out = append(out, ds)
	}
	return out
}

// Child records published at the apex so that a parent can follow the
// keys automatically (RFC 7344, RFC 8078): CDS and CDNSKEY of each key.
func (s *Signer) CDS(ttl uint32) (cds, cdnskey []dns.RR) {
	for _, k := range s.Keys {
		ds := k.DNSKEY.ToDS(dns.SHA256)
		ds.Hdr.Ttl = ttl
		c := ds.ToCDS()
		cds = append(cds, c)
		ck := k.DNSKEY.ToCDNSKEY()
		ck.Hdr.Ttl = ttl
		cdnskey = append(cdnskey, ck)
	}
	return cds, cdnskey
}
