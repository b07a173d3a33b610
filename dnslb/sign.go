package dnslb

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/dnslb/dnssec"
	"github.com/dnslb/dnslb/zones"
)

// keyTTL is the TTL of DNSKEY, CDS and CDNSKEY at a signed zone's apex.
const keyTTL = 3600

// loadSigners returns a signer for each zone with [zone.dnssec], reading
// its key files (and creating a key where there is none, unless check is
// set). A zone whose keys did not change keeps its signer from prev, and
// so every signature made so far.
func loadSigners(cfg *config.Config, prev map[string]*dnssec.Signer, check bool) (map[string]*dnssec.Signer, error) {
	out := map[string]*dnssec.Signer{}
	for _, zc := range cfg.Zones {
		if zc.DNSSEC == nil {
			continue
		}
		var keys []*dnssec.Key
		var err error
		if check {
			keys, err = dnssec.ReadKeys(zc.Origin, zc.DNSSEC.KeyDir)
		} else {
			keys, err = dnssec.LoadKeys(zc.Origin, zc.DNSSEC.KeyDir, zc.DNSSEC.Algorithm)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s.dnssec: %w", cfg.File, zc.At, err)
		}
		if old := prev[zc.Origin]; old != nil && sameKeys(old.Keys, keys) {
			out[zc.Origin] = old
			continue
		}
		out[zc.Origin] = dnssec.NewSigner(zc.Origin, keys, 0)
		if old := prev[zc.Origin]; old != nil {
			out[zc.Origin].Continue(old) // new keys: the count goes on
		}
	}
	return out, nil
}

func sameKeys(a, b []*dnssec.Key) bool {
	return slices.EqualFunc(a, b, func(x, y *dnssec.Key) bool {
		return x.DNSKEY.String() == y.DNSKEY.String() && x.Activate.Equal(y.Activate) && x.Inactive.Equal(y.Inactive)
	})
}

// signing is what resolve gathers to sign one response: the signer, the
// moment, the wildcard owners of synthesized RRsets, and the earliest
// moment one of its signatures is due to be replaced.
type signing struct {
	sg       *dnssec.Signer
	now      time.Time
	wild     map[string]string // query name → wildcard it was synthesized from
	refresh  time.Time
	negTTL   uint32
	referral bool
	nx       bool     // a name did not exist: NXDOMAIN made NOERROR
	synth    []string // owners of CNAMEs synthesized from a DNAME: unsigned
}

// unsigned marks the CNAME at name as synthesized from a DNAME: it goes
// out unsigned (RFC 6672 §5.3.1; a validator checks it against the signed
// DNAME), so a name under a DNAME costs no signature of its own.
func (sn *signing) unsigned(name string) {
	sn.synth = append(sn.synth, name)
}

// apexKeys answers DNSKEY, CDS and CDNSKEY at a signed zone's apex.
func apexKeys(sg *dnssec.Signer, qtype uint16) []dns.RR {
	switch qtype {
	case dns.TypeDNSKEY:
		return sg.DNSKEYs(keyTTL)
	case dns.TypeCDS:
		cds, _ := sg.CDS(keyTTL)
		return cds
	case dns.TypeCDNSKEY:
		_, cdnskey := sg.CDS(keyTTL)
		return cdnskey
	}
	return nil
}

// types returns the types at n for an NSEC bitmap: static, pooled (except
// skip, a pool with nothing to serve) and, at a signed apex, the keys.
func types(z *zones.Zone, n *zones.Node, skip uint16) []uint16 {
	if n == nil {
		return nil
	}
	ts := n.Types()
	for _, d := range n.Dynamics() {
		if d.Type != skip {
			ts = append(ts, d.Type)
		}
	}
	if n == z.Apex {
		ts = append(ts, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY)
	}
	return ts
}

// nodata adds the compact denial of qtype at name (RFC 9824 §3.1).
func (sn *signing) nodata(m *dns.Msg, name string, ts []uint16) {
	m.Ns = append(m.Ns, dnssec.NSEC(name, ts, sn.negTTL))
}

// nxname denies name: it "exists" with no data, NXNAME in its bitmap, and
// the response is NOERROR (RFC 9824 §3.2).
func (sn *signing) nxname(m *dns.Msg, name string) {
	sn.nx = true
	m.Ns = append(m.Ns, dnssec.NSEC(name, []uint16{dnssec.TypeNXNAME}, sn.negTTL))
}

// wildcard records that name's records come from wildcard w, and proves
// that the next closer name does not exist (RFC 4035 §3.1.3.3).
func (sn *signing) wildcard(m *dns.Msg, name, w string) {
	if sn.wild == nil {
		sn.wild = map[string]string{}
	}
	if _, ok := sn.wild[name]; ok {
		return
	}
	labels := dns.SplitDomainName(name)
	encloser := dns.CountLabel(w) - 1
	nextCloser := dns.Fqdn(joinLabels(labels[len(labels)-encloser-1:]))
	nsec := dnssec.Cover(nextCloser, sn.negTTL)
	if nsec == nil {
		return // no name precedes it: signed as the name asked for, as if it existed
	}
	sn.wild[name] = w
	m.Ns = append(m.Ns, nsec)
}

func joinLabels(ls []string) string {
	s := ""
	for i, l := range ls {
		if i > 0 {
			s += "."
		}
		s += l
	}
	return s
}

// signMsg adds an RRSIG after every authoritative RRset of m: all of the
// answer section, the authority section but a referral's NS RRset, and the
// additional section unless it holds glue.
func (sn *signing) signMsg(m *dns.Msg, origin string) error {
	var err error
	if m.Answer, err = sn.signSection(m.Answer, origin); err != nil {
		return err
	}
	if m.Ns, err = sn.signSection(m.Ns, origin); err != nil {
		return err
	}
	if !sn.referral {
		m.Extra, err = sn.signSection(m.Extra, origin)
	}
	return err
}

func (sn *signing) signSection(rrs []dns.RR, origin string) ([]dns.RR, error) {
	out := make([]dns.RR, 0, 2*len(rrs))
	for i := 0; i < len(rrs); {
		h := rrs[i].Header()
		j := i + 1
		for j < len(rrs) && rrs[j].Header().Name == h.Name && rrs[j].Header().Rrtype == h.Rrtype {
			j++
		}
		set := rrs[i:j]
		out = append(out, set...)
		i = j
		if h.Rrtype == dns.TypeNS && h.Name != origin {
			continue // a delegation's NS RRset belongs to the child: unsigned
		}
		if h.Rrtype == dns.TypeCNAME && slices.Contains(sn.synth, h.Name) {
			continue
		}
		sig, err := sn.sign(set, sn.wild[h.Name])
		if err != nil {
			return nil, err
		}
		for _, r := range sig.RRSIGs {
			c := *r
			c.Hdr.Name = h.Name
			c.Hdr.Ttl = h.Ttl
			out = append(out, &c)
		}
	}
	return out, nil
}

// sign signs set, under wildcard w's name when it was synthesized from it.
func (sn *signing) sign(set []dns.RR, w string) (*dnssec.Sig, error) {
	if w != "" {
		c := make([]dns.RR, len(set))
		for i, rr := range set {
			c[i] = dns.Copy(rr)
			c[i].Header().Name = w
		}
		set = c
	}
	sig, err := sn.sg.Sign(set, sn.now)
	if err != nil {
		return nil, err
	}
	if sn.refresh.IsZero() || sig.Refresh.Before(sn.refresh) {
		sn.refresh = sig.Refresh
	}
	return sig, nil
}

// poolSigs holds the signatures of one answer's pooled RRsets, one per set
// of members listed, in a small lock-free table: a repeated answer finds
// its RRSIGs here without signing or allocating.
type poolSigs struct {
	sg    *dnssec.Signer
	owner string // the name the pool's records are owned by
	slots [64]atomic.Pointer[poolSig]
}

type poolSig struct {
	fam     *family
	members []int // indices into fam.members, sorted
	sum     uint64
	mask    uint64 // the members as bits, for a family of up to 64
	refresh int64
	rdata   [][]byte // RRSIG RDATA, one per signing key
}

// find returns the signature of the members sel lists, making it when
// none fits: the members as a set (the order differs per answer), fresh.
// A family of up to 64 members names a set by a bit mask, exactly; a
// larger one by the sum of its members' hashes, checked member by member.
func (ps *poolSigs) find(sel *selection, now int64) (*poolSig, error) {
	var sum, mask uint64
	small := len(sel.fam.members) <= 64
	for _, i := range sel.members {
		sum += sel.fam.members[i].seed
		if small {
			mask |= 1 << uint(i)
		}
	}
	slot := &ps.slots[sum%uint64(len(ps.slots))]
	if e := slot.Load(); e != nil && e.fam == sel.fam && e.sum == sum && len(e.members) == len(sel.members) && now < e.refresh &&
		(small && e.mask == mask || !small && e.same(sel.members)) {
		return e, nil
	}
	e, err := ps.make(sel, sum, now)
	if err != nil {
		return nil, err
	}
	e.mask = mask
	slot.Store(e)
	return e, nil
}

func (e *poolSig) same(members []int) bool {
	for _, i := range members {
		if _, ok := slices.BinarySearch(e.members, i); !ok {
			return false
		}
	}
	return true
}

func (ps *poolSigs) make(sel *selection, sum uint64, now int64) (*poolSig, error) {
	f := sel.fam
	e := &poolSig{fam: f, sum: sum, members: slices.Sorted(slices.Values(sel.members))}
	set := make([]dns.RR, 0, len(sel.members))
	for _, i := range e.members {
		h := dns.RR_Header{Name: ps.owner, Rrtype: f.qtype, Class: dns.ClassINET, Ttl: f.ttl}
		addr := f.members[i].addr
		if f.qtype == dns.TypeA {
			set = append(set, &dns.A{Hdr: h, A: addr.AsSlice()})
		} else {
			set = append(set, &dns.AAAA{Hdr: h, AAAA: addr.AsSlice()})
		}
	}
	sig, err := ps.sg.Sign(set, time.Unix(0, now))
	if err != nil {
		return nil, err
	}
	e.refresh = sig.Refresh.UnixNano()
	buf := make([]byte, 1024)
	for _, r := range sig.RRSIGs {
		c := *r
		c.Hdr.Name = "."
		off, err := dns.PackRR(&c, buf, 0, nil, false)
		if err != nil {
			return nil, err
		}
		// "." packs to one octet; then TYPE CLASS TTL RDLENGTH.
		e.rdata = append(e.rdata, slices.Clone(buf[11:off]))
	}
	return e, nil
}

// appendRRSIGs appends e's RRSIGs owned by the name at owner (a
// compression pointer) with ttl; it returns how many.
func (e *poolSig) appendRRSIGs(out []byte, owner uint16, ttl uint32) ([]byte, int) {
	for _, rd := range e.rdata {
		out = append(out, 0xC0|byte(owner>>8), byte(owner), byte(dns.TypeRRSIG>>8), byte(dns.TypeRRSIG), 0, byte(dns.ClassINET))
		out = binary.BigEndian.AppendUint32(out, ttl)
		out = binary.BigEndian.AppendUint16(out, uint16(len(rd)))
		out = append(out, rd...)
	}
	return out, len(e.rdata)
}

// DS returns the DS records (SHA-256) for the parent of zone, signed by
// the config at path: one per key in its key_dir, which gets its first key
// now when it has none (`dnslb -ds ZONE`).
func DS(path, zone string) ([]*dns.DS, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	zone = dns.CanonicalName(zone)
	for _, zc := range cfg.Zones {
		if zc.Origin != zone {
			continue
		}
		if zc.DNSSEC == nil {
			return nil, fmt.Errorf("%s: zone %s is not signed: add [zone.dnssec] with key_dir", path, zone)
		}
		keys, err := dnssec.LoadKeys(zone, zc.DNSSEC.KeyDir, zc.DNSSEC.Algorithm)
		if err != nil {
			return nil, err
		}
		return dnssec.NewSigner(zone, keys, 1).DS(keyTTL), nil
	}
	return nil, fmt.Errorf("%s: no [[zone]] with origin %s", path, zone)
}
