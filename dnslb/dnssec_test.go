package dnslb

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/dnssec"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// signedZone is a zone with every kind of answer: static, wildcard (A and
// CNAME into a pool), CNAME chains into a pool, delegations with and
// without DS, a DNAME.
const signedZone = `$ORIGIN signed.example.
@       3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@       3600 IN NS  ns1
ns1     3600 IN A   192.0.2.53
txt      300 IN TXT "hello"
mx       300 IN MX  10 ns1
*.wild   300 IN A   192.0.2.80
*.wcname 300 IN CNAME www
alias    300 IN CNAME www
chain    300 IN CNAME alias
sub     3600 IN NS  ns.sub
ns.sub  3600 IN A   192.0.2.54
sub     3600 IN DS  12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
nods    3600 IN NS  ns.nods
ns.nods 3600 IN A   192.0.2.55
dname    300 IN DNAME signed.example.
`

func signedConfig(alg string) string {
	return `[server]
listen = ["127.0.0.1:0"]

[[zone]]
origin = "signed.example."
file = "signed.zone"
[zone.dnssec]
algorithm = "` + alg + `"
key_dir = "keys"

[check.c]
type = "tcp"
port = 80
interval = "100ms"
timeout = "50ms"
rise = 1
fall = 1

[[pool]]
name = "www.signed.example."
policy = "hash"
answers = 2
ttl = 20
check = "c"
when_all_down = "none"
members = [{ address = "192.0.2.1" }, { address = "192.0.2.2" }, { address = "192.0.2.3" }, { address = "2001:db8::1" }]
`
}

// signedServer runs a server for the signed zone; its keys are created on
// start in dir/keys.
func signedServer(t testing.TB, alg string, probe *fakeProbe) (*testServer, string) {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": signedConfig(alg), "signed.zone": signedZone})
	return start(t, dir+"/dnslb.toml", Options{Probe: probe.probe}), dir
}

// askDO queries with DO=1.
func (ts *testServer) askDO(t testing.TB, netw, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(4096, true)
	return ts.exchange(t, netw, m)
}

// rrsets groups a section's records (RRSIGs and OPT aside) into RRsets.
func rrsets(rrs []dns.RR) (sets [][]dns.RR, sigs []*dns.RRSIG) {
	idx := map[string]int{}
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.RRSIG:
			sigs = append(sigs, rr)
			continue
		case *dns.OPT:
			continue
		}
		k := strings.ToLower(rr.Header().Name) + "/" + dns.TypeToString[rr.Header().Rrtype]
		if i, ok := idx[k]; ok {
			sets[i] = append(sets[i], rr)
			continue
		}
		idx[k] = len(sets)
		sets = append(sets, []dns.RR{rr})
	}
	return sets, sigs
}

// verifySigned checks that every authoritative RRset of r carries an
// RRSIG that verifies against one of keys, now, and that no RRSIG is
// left over. A referral's NS RRset and glue are not signed.
func verifySigned(t *testing.T, r *dns.Msg, keys []*dns.DNSKEY, zone string) {
	t.Helper()
	for _, sec := range [][]dns.RR{r.Answer, r.Ns, r.Extra} {
		sets, sigs := rrsets(sec)
		used := 0
		for _, set := range sets {
			h := set[0].Header()
			if h.Rrtype == dns.TypeNS && h.Name != zone || !r.Authoritative && h.Rrtype != dns.TypeDS && h.Rrtype != dns.TypeNSEC {
				continue // a delegation's NS RRset and glue are the child's
			}
			if r.Authoritative == false && (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA) {
				continue
			}
			if h.Rrtype == dns.TypeCNAME && fromDNAME(sec, h.Name) {
				continue // synthesized: the DNAME's RRSIG covers it (RFC 6672 §5.3.1)
			}
			ok := false
			for _, sig := range sigs {
				if !strings.EqualFold(sig.Hdr.Name, h.Name) || sig.TypeCovered != h.Rrtype {
					continue
				}
				used++
				if sig.Hdr.Ttl != h.Ttl {
					t.Errorf("%s/%s: RRSIG TTL %d, RRset TTL %d", h.Name, dns.TypeToString[h.Rrtype], sig.Hdr.Ttl, h.Ttl)
				}
				if !sig.ValidityPeriod(time.Now()) {
					t.Errorf("%s/%s: RRSIG not valid now: %s", h.Name, dns.TypeToString[h.Rrtype], sig)
				}
				for _, k := range keys {
					if k.KeyTag() == sig.KeyTag {
						if err := sig.Verify(k, set); err != nil {
							t.Errorf("%s/%s: %v\n%v\n%v", h.Name, dns.TypeToString[h.Rrtype], err, set, sig)
						} else {
							ok = true
						}
					}
				}
			}
			if !ok {
				t.Errorf("%s/%s: no valid RRSIG in %v", h.Name, dns.TypeToString[h.Rrtype], r)
			}
		}
		if used != len(sigs) {
			t.Errorf("%d RRSIGs cover no RRset of the section: %v", len(sigs)-used, sigs)
		}
	}
}

// fromDNAME reports whether a DNAME in rrs owns a name above name: a
// CNAME at name was synthesized from it.
func fromDNAME(rrs []dns.RR, name string) bool {
	for _, rr := range rrs {
		if d, ok := rr.(*dns.DNAME); ok && name != d.Hdr.Name && dns.IsSubDomain(d.Hdr.Name, name) {
			return true
		}
	}
	return false
}

// canonicalLess orders names as DNSSEC does (RFC 4034 §6.1).
func canonicalLess(a, b string) bool {
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	for i := 1; i <= min(len(la), len(lb)); i++ {
		x, y := labelBytes(la[len(la)-i]), labelBytes(lb[len(lb)-i])
		if c := bytes.Compare(x, y); c != 0 {
			return c < 0
		}
	}
	return len(la) < len(lb)
}

func labelBytes(l string) []byte {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(l+".", buf, 0, nil, false)
	if err != nil {
		panic(err)
	}
	return bytes.ToLower(buf[1 : n-1])
}

func nsecs(rrs []dns.RR) []*dns.NSEC {
	var out []*dns.NSEC
	for _, rr := range rrs {
		if n, ok := rr.(*dns.NSEC); ok {
			out = append(out, n)
		}
	}
	return out
}

func zoneKeys(t *testing.T, ts *testServer) []*dns.DNSKEY {
	t.Helper()
	r := ts.askDO(t, "udp", "signed.example.", dns.TypeDNSKEY)
	var keys []*dns.DNSKEY
	for _, rr := range r.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		t.Fatalf("no DNSKEY: %v", r)
	}
	verifySigned(t, r, keys, "signed.example.")
	return keys
}

// TestSignedAnswers: over UDP and TCP, for both algorithms, every RRset of
// every kind of answer verifies, and each denial proves what it must.
func TestSignedAnswers(t *testing.T) {
	for _, alg := range []string{"ecdsap256sha256", "ed25519"} {
		t.Run(alg, func(t *testing.T) {
			probe := newFakeProbe()
			ts, dir := signedServer(t, alg, probe)
			keys := zoneKeys(t, ts)
			files, _ := filepath.Glob(filepath.Join(dir, "keys", "Ksigned.example.+*.private"))
			if len(files) != 1 {
				t.Fatalf("key files: %v", files)
			}
			if st, err := os.Stat(files[0]); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("private key file mode: %v %v", st.Mode(), err)
			}
			for _, netw := range []string{"udp", "tcp"} {
				for _, tc := range []struct {
					qname string
					qtype uint16
					check func(t *testing.T, r *dns.Msg)
				}{
					{"txt.signed.example.", dns.TypeTXT, answerOf(dns.TypeTXT, 1)},
					{"mx.signed.example.", dns.TypeMX, answerOf(dns.TypeMX, 1)},
					{"signed.example.", dns.TypeSOA, answerOf(dns.TypeSOA, 1)},
					{"signed.example.", dns.TypeNS, answerOf(dns.TypeNS, 1)},
					{"signed.example.", dns.TypeCDS, answerOf(dns.TypeCDS, 1)},
					{"signed.example.", dns.TypeCDNSKEY, answerOf(dns.TypeCDNSKEY, 1)},
					{"www.signed.example.", dns.TypeA, answerOf(dns.TypeA, 2)},
					{"www.signed.example.", dns.TypeAAAA, answerOf(dns.TypeAAAA, 1)},
					{"alias.signed.example.", dns.TypeA, answerOf(dns.TypeA, 2)},
					{"chain.signed.example.", dns.TypeA, answerOf(dns.TypeA, 2)},
					{"x.wild.signed.example.", dns.TypeA, wildcardProof("*.wild.signed.example.", "x.wild.signed.example.")},
					{"a.b.wild.signed.example.", dns.TypeA, wildcardProof("*.wild.signed.example.", "b.wild.signed.example.")},
					{"p.wcname.signed.example.", dns.TypeA, answerOf(dns.TypeA, 2)},
					{`\000.wild.signed.example.`, dns.TypeA, answerOf(dns.TypeA, 1)}, // nothing to cover it by: signed as itself
					{"txt.signed.example.", dns.TypeA, nodata("txt.signed.example.", dns.TypeTXT)},
					{"signed.example.", dns.TypeA, nodata("signed.example.", dns.TypeSOA, dns.TypeNS, dns.TypeDNSKEY)},
					{"www.signed.example.", dns.TypeMX, nodata("www.signed.example.", dns.TypeA, dns.TypeAAAA)},
					{"x.wild.signed.example.", dns.TypeMX, nodata("x.wild.signed.example.", dns.TypeA)},
					{"nope.signed.example.", dns.TypeA, nxname("nope.signed.example.")},
					{"deep.nope.signed.example.", dns.TypeAAAA, nxname("deep.nope.signed.example.")},
					{"sub.signed.example.", dns.TypeDS, answerOf(dns.TypeDS, 1)},
					{"host.sub.signed.example.", dns.TypeA, referral(true)},
					{"host.nods.signed.example.", dns.TypeA, referral(false)},
					// NSEC queries: the compact NSEC at the name is the answer.
					{"txt.signed.example.", dns.TypeNSEC, nsecAnswered(dns.TypeTXT)},
					{"signed.example.", dns.TypeNSEC, nsecAnswered(dns.TypeSOA, dns.TypeNS, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY)},
					{"www.signed.example.", dns.TypeNSEC, nsecAnswered(dns.TypeA, dns.TypeAAAA)},
					{"alias.signed.example.", dns.TypeNSEC, nsecAnswered(dns.TypeCNAME)},
					{"x.wild.signed.example.", dns.TypeNSEC, nsecAnswered(dns.TypeA)},
					{"wild.signed.example.", dns.TypeNSEC, nsecAnswered()}, // empty non-terminal
					{"nods.signed.example.", dns.TypeNSEC, nsecAnswered(dns.TypeNS)},
					{"dname.signed.example.", dns.TypeNSEC, nsecAnswered(dns.TypeDNAME)},
					{"nope.signed.example.", dns.TypeNSEC, nsecAnswered(dnssec.TypeNXNAME)},
					{"x.dname.signed.example.", dns.TypeNSEC, nsecAnswered(dnssec.TypeNXNAME)}, // at the DNAME's target
					{"host.nods.signed.example.", dns.TypeNSEC, referral(false)},
					// RRSIG queries: REFUSED.
					{"txt.signed.example.", dns.TypeRRSIG, refused},
					{"www.signed.example.", dns.TypeRRSIG, refused},
					{"nope.signed.example.", dns.TypeRRSIG, refused},
					// DNAME: signed; the CNAME made from it unsigned.
					{"txt.dname.signed.example.", dns.TypeTXT, dnameAnswer(dns.TypeTXT, 1)},
					{"www.dname.signed.example.", dns.TypeA, dnameAnswer(dns.TypeA, 2)},
					{"nope.dname.signed.example.", dns.TypeA, nxname("nope.signed.example.")},
				} {
					r := ts.askDO(t, netw, tc.qname, tc.qtype)
					t.Run(netw+"/"+tc.qname+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
						if r.Truncated {
							t.Fatalf("truncated: %v", r)
						}
						verifySigned(t, r, keys, "signed.example.")
						tc.check(t, r)
					})
				}
			}
		})
	}
}

func answerOf(qtype uint16, n int) func(*testing.T, *dns.Msg) {
	return func(t *testing.T, r *dns.Msg) {
		t.Helper()
		got := 0
		for _, rr := range r.Answer {
			if rr.Header().Rrtype == qtype {
				got++
			}
		}
		if r.Rcode != dns.RcodeSuccess || got != n || len(nsecs(r.Ns)) > 0 {
			t.Errorf("want %d %s and no NSEC, got %v", n, dns.TypeToString[qtype], r)
		}
	}
}

// nsecAnswered: the answer is the compact NSEC at the name asked for (and
// its RRSIG, which verifySigned checks), its bitmap types plus NSEC and
// RRSIG; nothing in the authority section.
func nsecAnswered(types ...uint16) func(*testing.T, *dns.Msg) {
	return func(t *testing.T, r *dns.Msg) {
		t.Helper()
		ns := nsecs(r.Answer)
		name := r.Question[0].Name
		for _, rr := range r.Answer {
			if c, ok := rr.(*dns.CNAME); ok {
				name = c.Target // through a DNAME
			}
		}
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(ns) != 1 || ns[0].Hdr.Name != name || ns[0].NextDomain != `\000.`+name || len(r.Ns) != 0 {
			t.Fatalf("want the NSEC at %s as the answer: %v", name, r)
		}
		want := append(slices.Clone(types), dns.TypeNSEC, dns.TypeRRSIG)
		slices.Sort(want)
		if !slices.Equal(ns[0].TypeBitMap, want) {
			t.Errorf("bitmap %v, want %v", ns[0].TypeBitMap, want)
		}
	}
}

func refused(t *testing.T, r *dns.Msg) {
	t.Helper()
	if r.Rcode != dns.RcodeRefused || len(r.Answer)+len(r.Ns) != 0 {
		t.Errorf("want REFUSED and no records: %v", r)
	}
}

// dnameAnswer: the DNAME and its RRSIG, the CNAME synthesized from it
// without one, then n records of qtype.
func dnameAnswer(qtype uint16, n int) func(*testing.T, *dns.Msg) {
	return func(t *testing.T, r *dns.Msg) {
		t.Helper()
		answerOf(qtype, n)(t, r)
		sets, sigs := rrsets(r.Answer)
		if len(sets) < 3 || sets[0][0].Header().Rrtype != dns.TypeDNAME || sets[1][0].Header().Rrtype != dns.TypeCNAME {
			t.Fatalf("want DNAME, CNAME, ...: %v", r)
		}
		for _, sig := range sigs {
			if sig.TypeCovered == dns.TypeCNAME {
				t.Errorf("the synthesized CNAME is signed: %v", sig)
			}
		}
	}
}

// wildcardProof: the RRSIG's labels count the wildcard's labels but "*",
// and one NSEC covers the next closer name (RFC 4035 §3.1.3.3).
func wildcardProof(wildcard, nextCloser string) func(*testing.T, *dns.Msg) {
	return func(t *testing.T, r *dns.Msg) {
		t.Helper()
		_, sigs := rrsets(r.Answer)
		if len(sigs) == 0 || int(sigs[0].Labels) != dns.CountLabel(wildcard)-1 {
			t.Fatalf("RRSIG labels: %v", sigs)
		}
		ns := nsecs(r.Ns)
		if len(ns) != 1 || !canonicalLess(ns[0].Hdr.Name, nextCloser) || !canonicalLess(nextCloser, ns[0].NextDomain) {
			t.Fatalf("no NSEC covering %s: %v", nextCloser, ns)
		}
		q := r.Question[0].Name
		if !canonicalLess(q, ns[0].NextDomain) || dns.IsSubDomain(q, ns[0].NextDomain) {
			t.Errorf("NSEC %s next %s does not cover %s as a name error", ns[0].Hdr.Name, ns[0].NextDomain, q)
		}
		if !dns.IsSubDomain(dns.Fqdn(strings.Join(dns.SplitDomainName(wildcard)[1:], ".")), ns[0].Hdr.Name) {
			t.Errorf("NSEC owner %s outside the wildcard's encloser", ns[0].Hdr.Name)
		}
	}
}

// nodata: NOERROR, SOA, and an NSEC at the name whose bitmap holds types
// (with NSEC and RRSIG) but not the asked type.
func nodata(name string, has ...uint16) func(*testing.T, *dns.Msg) {
	return func(t *testing.T, r *dns.Msg) {
		t.Helper()
		ns := nsecs(r.Ns)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(ns) != 1 || ns[0].Hdr.Name != name || ns[0].NextDomain != `\000.`+name {
			t.Fatalf("not a compact NODATA at %s: %v", name, r)
		}
		bm := ns[0].TypeBitMap
		if slices.Contains(bm, r.Question[0].Qtype) || slices.Contains(bm, dnssec.TypeNXNAME) {
			t.Errorf("bitmap %v holds the asked type or NXNAME", bm)
		}
		for _, ty := range append(has, dns.TypeNSEC, dns.TypeRRSIG) {
			if !slices.Contains(bm, ty) {
				t.Errorf("bitmap %v lacks %s", bm, dns.TypeToString[ty])
			}
		}
	}
}

// nxname: RFC 9824 §3.2: NOERROR, NSEC at the name with RRSIG NSEC NXNAME.
func nxname(name string) func(*testing.T, *dns.Msg) {
	return func(t *testing.T, r *dns.Msg) {
		t.Helper()
		ns := nsecs(r.Ns)
		if r.Rcode != dns.RcodeSuccess || len(ns) != 1 || ns[0].Hdr.Name != name || ns[0].NextDomain != `\000.`+name {
			t.Fatalf("not a compact NXDOMAIN for %s: %v", name, r)
		}
		if want := []uint16{dns.TypeRRSIG, dns.TypeNSEC, dnssec.TypeNXNAME}; !slices.Equal(ns[0].TypeBitMap, want) {
			t.Errorf("bitmap %v, want %v", ns[0].TypeBitMap, want)
		}
	}
}

// referral: the NS RRset unsigned, then a signed DS, or a signed NSEC at
// the cut whose bitmap has NS but no DS.
func referral(ds bool) func(*testing.T, *dns.Msg) {
	return func(t *testing.T, r *dns.Msg) {
		t.Helper()
		sets, _ := rrsets(r.Ns)
		var types []uint16
		for _, s := range sets {
			types = append(types, s[0].Header().Rrtype)
		}
		if r.Authoritative || !slices.Contains(types, dns.TypeNS) {
			t.Fatalf("not a referral: %v", r)
		}
		ns := nsecs(r.Ns)
		if ds {
			if !slices.Contains(types, dns.TypeDS) || len(ns) > 0 {
				t.Errorf("want DS and no NSEC: %v", r)
			}
			return
		}
		if slices.Contains(types, dns.TypeDS) || len(ns) != 1 || !slices.Contains(ns[0].TypeBitMap, dns.TypeNS) || slices.Contains(ns[0].TypeBitMap, dns.TypeDS) {
			t.Errorf("want an NSEC proving no DS: %v", r)
		}
	}
}

// TestUnsignedWithoutDO: DO=0 answers carry no DNSSEC records and keep
// NXDOMAIN; the signed NXDOMAIN is still counted as NXDOMAIN.
func TestUnsignedWithoutDO(t *testing.T) {
	ts, _ := signedServer(t, "ecdsap256sha256", newFakeProbe())
	for _, q := range []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"www.signed.example.", dns.TypeA, dns.RcodeSuccess},
		{"txt.signed.example.", dns.TypeA, dns.RcodeSuccess},
		{"nope.signed.example.", dns.TypeA, dns.RcodeNameError},
		{"x.wild.signed.example.", dns.TypeA, dns.RcodeSuccess},
		{"host.nods.signed.example.", dns.TypeA, dns.RcodeSuccess},
		{"www.signed.example.", dnssec.TypeNXNAME, dns.RcodeFormatError}, // RFC 9824 §3.5
		{"txt.signed.example.", dns.TypeNSEC, dns.RcodeSuccess},          // NODATA, as unsigned zones
		{"txt.signed.example.", dns.TypeRRSIG, dns.RcodeSuccess},
	} {
		r := ts.ask(t, "udp", q.name, q.qtype)
		if r.Rcode != q.rcode {
			t.Errorf("%s: rcode %s", q.name, dns.RcodeToString[r.Rcode])
		}
		for _, rr := range append(append(r.Answer, r.Ns...), r.Extra...) {
			switch rr.Header().Rrtype {
			case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY:
				t.Errorf("%s: DO=0 answer holds %v", q.name, rr)
			}
		}
	}
}

// TestSignedPoolFollowsHealth: as members die and return, each answer
// lists only live members and its RRSIG verifies for the set listed.
func TestSignedPoolFollowsHealth(t *testing.T) {
	probe := newFakeProbe()
	ts, _ := signedServer(t, "ecdsap256sha256", probe)
	keys := zoneKeys(t, ts)
	steps := []struct {
		down []string
		want []string // the set any answer may list from
	}{
		{nil, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
		{[]string{"192.0.2.1"}, []string{"192.0.2.2", "192.0.2.3"}},
		{[]string{"192.0.2.1", "192.0.2.2"}, []string{"192.0.2.3"}},
		{nil, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
	}
	for _, st := range steps {
		for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
			probe.set(a, fakeFigures{down: slices.Contains(st.down, a)})
		}
		testutil.WaitFor(t, 10*time.Second, "answers of "+strings.Join(st.want, " "), func() bool {
			got := addresses(ts.askDO(t, "udp", "alias.signed.example.", dns.TypeA))
			want := min(2, len(st.want))
			if len(got) != want {
				return false
			}
			for _, g := range got {
				if !slices.Contains(st.want, g) {
					return false
				}
			}
			return true
		})
		for _, name := range []string{"www.signed.example.", "alias.signed.example."} {
			r := ts.askDO(t, "udp", name, dns.TypeA)
			verifySigned(t, r, keys, "signed.example.")
		}
	}
	// Every member down: NODATA, proven without A in the bitmap.
	for _, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		probe.set(a, fakeFigures{down: true})
	}
	testutil.WaitFor(t, 10*time.Second, "all down", func() bool {
		return len(addresses(ts.askDO(t, "udp", "www.signed.example.", dns.TypeA))) == 0
	})
	r := ts.askDO(t, "udp", "www.signed.example.", dns.TypeA)
	verifySigned(t, r, keys, "signed.example.")
	nodata("www.signed.example.", dns.TypeAAAA)(t, r)
}

// TestSignedFastPathMatchesGeneral: a signed answer from the cache is the
// same bytes as the general path's, for every kind of answer; the cached
// pooled answer allocates nothing and signs nothing.
func TestSignedFastPathMatchesGeneral(t *testing.T) {
	ts, _ := signedServer(t, "ecdsap256sha256", newFakeProbe())
	srv := ts.Server
	src := netip.MustParseAddrPort("192.0.2.99:5353")
	for _, tcp := range []bool{false, true} {
		w := newWorker(srv, tcp, srv.newStats())
		for _, q := range []struct {
			name  string
			qtype uint16
		}{
			{"www.signed.example.", dns.TypeA}, {"alias.signed.example.", dns.TypeA}, {"chain.signed.example.", dns.TypeA},
			{"p.wcname.signed.example.", dns.TypeA}, {"x.wild.signed.example.", dns.TypeA}, {"txt.signed.example.", dns.TypeTXT},
			{"nope.signed.example.", dns.TypeA}, {"txt.signed.example.", dns.TypeA}, {"host.sub.signed.example.", dns.TypeA},
			{"host.nods.signed.example.", dns.TypeA}, {"signed.example.", dns.TypeDNSKEY},
			{"txt.signed.example.", dns.TypeNSEC}, {"www.dname.signed.example.", dns.TypeA}, {"txt.dname.signed.example.", dns.TypeTXT},
		} {
			m := new(dns.Msg)
			m.SetQuestion(q.name, q.qtype)
			m.SetEdns0(4096, true)
			req, _ := m.Pack()
			clear(srv.snap.Load().cache.slots)
			seenBefore(srv.snap.Load().cache, req)
			general := bytes.Clone(w.serve(req, src))
			key, ok := parseQuery(req, &query{}, nil)
			if !ok || srv.snap.Load().cache.get(key) == nil {
				t.Fatalf("%s: not cached", q.name)
			}
			cached := w.serve(req, src)
			if !bytes.Equal(general, cached) {
				t.Errorf("%s %s (tcp %v): general path % x\ncached path  % x", q.name, dns.TypeToString[q.qtype], tcp, general, cached)
			}
			var r dns.Msg
			if err := r.Unpack(cached); err != nil || len(r.Answer)+len(r.Ns) == 0 {
				t.Fatalf("%s: %v %v", q.name, err, r)
			}
			_, sigs := rrsets(append(r.Answer, r.Ns...))
			if len(sigs) == 0 {
				t.Errorf("%s: cached answer unsigned", q.name)
			}
		}
	}
	for _, name := range []string{"www.signed.example.", "alias.signed.example."} {
		w := newWorker(srv, false, srv.newStats())
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.SetEdns0(4096, true)
		req, _ := m.Pack()
		w.serve(req, src)
		signed := srv.snap.Load().signers["signed.example."].Signed()
		if n := testutil.AllocsPerRun(200, func() { w.serve(req, src) }); n != 0 {
			t.Errorf("%s: %v allocations per cached signed answer", name, n)
		}
		if s := srv.snap.Load().signers["signed.example."].Signed(); s != signed {
			t.Errorf("%s: %d RRsets signed by repeated answers", name, s-signed)
		}
	}
}

// BenchmarkServeSigned compares cached answers with DO=1 (signed) and
// DO=0 (unsigned) from one signed zone: pooled, a CNAME into the pool,
// static and a compact NXDOMAIN.
//
//	go test -run '^$' -bench ServeSigned -benchmem ./dnslb
func BenchmarkServeSigned(b *testing.B) {
	dir := testutil.WriteFiles(b, map[string]string{"dnslb.toml": strings.Replace(signedConfig("ecdsap256sha256"), `check = "c"`, "", 1), "signed.zone": signedZone})
	srv, err := New(dir+"/dnslb.toml", Options{Logger: discardLogger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.closeListeners)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.signed.example.", dns.TypeA},
		{"alias.signed.example.", dns.TypeA},
		{"txt.signed.example.", dns.TypeTXT},
		{"nope.signed.example.", dns.TypeA},
	} {
		for _, do := range []bool{false, true} {
			b.Run(strings.TrimSuffix(q.name, ".signed.example.")+"/"+dns.TypeToString[q.qtype]+map[bool]string{false: "/unsigned", true: "/signed"}[do], func(b *testing.B) {
				benchQuery(b, srv, false, q.name, q.qtype, 4096, do)
			})
		}
	}
}

// setTiming rewrites a BIND timing line of the key's .private file.
func setTiming(t *testing.T, k *dnssec.Key, field string, at time.Time) {
	t.Helper()
	priv := strings.TrimSuffix(k.File, ".key") + ".private"
	b, err := os.ReadFile(priv)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if !strings.HasPrefix(l, field+":") {
			lines = append(lines, l)
		}
	}
	lines = append(lines, field+": "+at.UTC().Format("20060102150405"))
	if err := os.WriteFile(priv, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// signedBy returns the key tags of the RRSIGs over www's A RRset, and the
// tags in the DNSKEY RRset.
func signedBy(t *testing.T, ts *testServer) (sigTags, keyTags []uint16) {
	t.Helper()
	keys := zoneKeys(t, ts)
	for _, k := range keys {
		keyTags = append(keyTags, k.KeyTag())
	}
	r := ts.askDO(t, "udp", "txt.signed.example.", dns.TypeTXT)
	verifySigned(t, r, keys, "signed.example.")
	_, sigs := rrsets(r.Answer)
	for _, s := range sigs {
		sigTags = append(sigTags, s.KeyTag)
	}
	slices.Sort(sigTags)
	slices.Sort(keyTags)
	return sigTags, keyTags
}

// TestKeyRollover follows the README: pre-publish a new key (published,
// not signing), switch (the new one signs, the old one stays published),
// remove the old key; each step by a reload, each answer verifying.
func TestKeyRollover(t *testing.T) {
	ts, dir := signedServer(t, "ecdsap256sha256", newFakeProbe())
	keyDir := filepath.Join(dir, "keys")
	old, err := dnssec.ReadKeys("signed.example.", keyDir)
	if err != nil || len(old) != 1 {
		t.Fatal(old, err)
	}
	oldTag := old[0].Tag()
	sigs, keys := signedBy(t, ts)
	if !slices.Equal(sigs, []uint16{oldTag}) || !slices.Equal(keys, []uint16{oldTag}) {
		t.Fatalf("start: signed by %v, keys %v", sigs, keys)
	}
	// 1. Pre-publish.
	nk, err := dnssec.NewKey("signed.example.", keyDir, dns.ECDSAP256SHA256)
	if err != nil {
		t.Fatal(err)
	}
	setTiming(t, nk, "Activate", time.Now().Add(30*24*time.Hour))
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	sigs, keys = signedBy(t, ts)
	both := []uint16{oldTag, nk.Tag()}
	slices.Sort(both)
	if !slices.Equal(sigs, []uint16{oldTag}) || !slices.Equal(keys, both) {
		t.Fatalf("pre-published: signed by %v, keys %v", sigs, keys)
	}
	// 2. Switch: the new key signs, the old one is only published.
	setTiming(t, nk, "Activate", time.Now().Add(-time.Minute))
	setTiming(t, old[0], "Inactive", time.Now().Add(-time.Minute))
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	sigs, keys = signedBy(t, ts)
	if !slices.Equal(sigs, []uint16{nk.Tag()}) || !slices.Equal(keys, both) {
		t.Fatalf("switched: signed by %v, keys %v", sigs, keys)
	}
	// 3. Remove the old key.
	for _, ext := range []string{".key", ".private"} {
		if err := os.Remove(strings.TrimSuffix(old[0].File, ".key") + ext); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	sigs, keys = signedBy(t, ts)
	if !slices.Equal(sigs, []uint16{nk.Tag()}) || !slices.Equal(keys, []uint16{nk.Tag()}) {
		t.Fatalf("removed: signed by %v, keys %v", sigs, keys)
	}
}

// TestSignedAnswerRefreshed: a cached signed answer whose signatures are
// due is built again on its next query, and the new one is cached in its
// place.
func TestSignedAnswerRefreshed(t *testing.T) {
	ts, _ := signedServer(t, "ecdsap256sha256", newFakeProbe())
	srv := ts.Server
	src := netip.MustParseAddrPort("192.0.2.99:5353")
	w := newWorker(srv, false, srv.newStats())
	for _, name := range []string{"alias.signed.example."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		if name == "txt.signed.example." {
			m.SetQuestion(name, dns.TypeTXT)
		}
		m.SetEdns0(4096, true)
		req, _ := m.Pack()
		key, _ := parseQuery(req, &query{}, nil)
		cache := srv.snap.Load().cache
		// Fill both ways of the set with it, the older one due.
		w.serve(req, src)
		first := cache.get(key)
		if first == nil || first.refresh == 0 {
			t.Fatalf("%s: not cached with a refresh time: %+v", name, first)
		}
		first.refresh = 1 // due
		w.serve(req, src)
		second := cache.get(key)
		if second == nil || second == first || second.refresh <= srv.clock.now() {
			t.Fatalf("%s: the due answer was not replaced", name)
		}
		w.serve(req, src)
		if cache.get(key) != second {
			t.Errorf("%s: the fresh answer was built again", name)
		}
		// The pool's signature too, in its own table.
		var due *poolSig
		for i := range second.sigs.slots {
			if e := second.sigs.slots[i].Load(); e != nil {
				due = e
				due.refresh = 1
			}
		}
		if due == nil {
			t.Fatalf("%s: no pool signature kept", name)
		}
		w.serve(req, src)
		for i := range second.sigs.slots {
			if e := second.sigs.slots[i].Load(); e == due {
				t.Errorf("%s: a due pool signature is still served", name)
			}
		}
	}
}

// TestSignedNXDomainCountedAndLimited: a compact NXDOMAIN (sent NOERROR)
// is counted as NXDOMAIN, and rate limiting puts names that do not exist
// into the zone's one bucket, as it does unsigned NXDOMAINs: a flood of
// random names from one source is limited, signed or not.
func TestSignedNXDomainCountedAndLimited(t *testing.T) {
	cfg := strings.Replace(signedConfig("ecdsap256sha256"), "listen = [\"127.0.0.1:0\"]\n", "listen = [\"127.0.0.1:0\"]\n[rrl]\nresponses_per_second = 5\nslip = 2\n", 1)
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": cfg, "signed.zone": signedZone})
	ts := start(t, dir+"/dnslb.toml", Options{Probe: newFakeProbe().probe})
	for i := range 3 {
		r := ts.askDO(t, "tcp", "counted"+string(rune('a'+i))+".signed.example.", dns.TypeA)
		if r.Rcode != dns.RcodeSuccess {
			t.Fatalf("rcode %s", dns.RcodeToString[r.Rcode])
		}
	}
	if got := ts.scrape(t)["dnslb_queries_total{qtype=A,rcode=NXDOMAIN,transport=tcp,zone=signed.example.}"]; got != 3 {
		t.Errorf("counted %v signed NXDOMAINs, want 3", got)
	}
	i := 0
	resps, _ := ts.flood(t, "127.0.9.21", 60, func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("flood%d.signed.example.", i), dns.TypeA)
		m.SetEdns0(4096, true)
		i++
		return m
	})
	answered := 0
	for _, r := range resps {
		if !r.Truncated && len(nsecs(r.Ns)) == 1 {
			answered++
		}
	}
	if answered > 15 {
		t.Errorf("%d of 60 signed NXDOMAINs for random names answered in full; want about 5 (one bucket per zone)", answered)
	}
}

// TestSignedUpdate: an RFC 2136 update to a signed zone is served signed
// at once, and re-signs nothing it did not change.
func TestSignedUpdate(t *testing.T) {
	_, cfg := updateFixture(t)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "types = [\"TXT\"] }]\n", "types = [\"TXT\"] }]\n[zone.dnssec]\nkey_dir = \"keys\"\n", 1)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ts := start(t, cfg, Options{})
	ask := func(name string) *dns.Msg {
		r := ts.askDO(t, "udp", name, dns.TypeTXT)
		var keys []*dns.DNSKEY
		for _, rr := range ts.askDO(t, "udp", updZone, dns.TypeDNSKEY).Answer {
			if k, ok := rr.(*dns.DNSKEY); ok {
				keys = append(keys, k)
			}
		}
		verifySigned(t, r, keys, updZone)
		return r
	}
	ask("static." + updZone)
	signer := ts.snap.Load().signers[updZone]
	name := "_acme-challenge.h." + updZone
	if r := ask(name); len(nsecs(r.Ns)) != 1 {
		t.Fatalf("before the update: %v", r)
	}
	m := addTXT(name, "token")
	m.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{TsigSecret: map[string]string{"acme.": acmeSecret}, Timeout: 10 * time.Second}
	if r, _, err := c.Exchange(m, ts.addr); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("update: %v %v", r, err)
	}
	before := signer.Signed()
	if r := ask(name); len(r.Answer) != 2 {
		t.Fatalf("after the update: %v", r)
	}
	if n := signer.Signed() - before; n != 1 {
		t.Errorf("%d RRsets signed to serve the new TXT, want 1", n)
	}
	if ts.snap.Load().signers[updZone] != signer {
		t.Error("the update replaced the zone's signer (and its signatures)")
	}
	before = signer.Signed()
	ask("static." + updZone)
	if n := signer.Signed() - before; n != 0 {
		t.Errorf("an unchanged RRset was signed again after the update (%d)", n)
	}
}

// TestSignatureMetric: dnslb_dnssec_signatures_total counts the RRSIGs
// made, not those served from the cache, and goes on across a key change.
func TestSignatureMetric(t *testing.T) {
	ts, dir := signedServer(t, "ecdsap256sha256", newFakeProbe())
	lintMetrics(t, ts)
	count := func() float64 {
		t.Helper()
		fams, err := ts.registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() != "dnslb_dnssec_signatures_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "signed.example." {
					return m.GetCounter().GetValue()
				}
			}
		}
		t.Fatal("no dnslb_dnssec_signatures_total{zone=signed.example.}")
		return 0
	}
	before := count()
	r := ts.askDO(t, "udp", "txt.signed.example.", dns.TypeTXT)
	_, sigs := rrsets(r.Answer)
	if len(sigs) != 1 {
		t.Fatalf("want one RRSIG: %v", r)
	}
	if n := count() - before; n != 1 {
		t.Errorf("%v signatures counted for one new RRset, want 1", n)
	}
	before = count()
	ts.askDO(t, "udp", "txt.signed.example.", dns.TypeTXT)
	ts.askDO(t, "tcp", "txt.signed.example.", dns.TypeTXT)
	ts.ask(t, "udp", "mx.signed.example.", dns.TypeMX)
	if n := count() - before; n != 0 {
		t.Errorf("%v signatures counted for answers from the cache and DO=0, want 0", n)
	}
	// A new key: a new signer, whose count starts from the old one's.
	if _, err := dnssec.NewKey("signed.example.", filepath.Join(dir, "keys"), dns.ECDSAP256SHA256); err != nil {
		t.Fatal(err)
	}
	before = count()
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != before {
		t.Errorf("after a key change the count is %v, was %v", n, before)
	}
	ts.askDO(t, "udp", "txt.signed.example.", dns.TypeTXT)
	if n := count() - before; n != 2 {
		t.Errorf("%v signatures counted for one RRset and two keys, want 2", n)
	}
}
