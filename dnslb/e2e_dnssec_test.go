package dnslb

import (
	"crypto"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// The signed chain, on the dnssec range of loopback addresses: NSD serves
// the parent zone example., signed here with its own key and holding the
// DS of dnslb's key for lb.example.; Unbound validates from the parent's
// key as its trust anchor.
const (
	secDNSLB    = "127.0.9.2:53"
	secParent   = "127.0.9.3:53"
	secResolver = "127.0.9.4:53"
)

const secDNSLBConfig = `[server]
listen = ["127.0.9.2:53"]
http   = ""

[[zone]]
origin = "lb.example."
records = ["@ 3600 IN SOA ns1 hostmaster 1 3600 900 604800 60", "@ 3600 IN NS ns1", "ns1 3600 IN A 127.0.9.2", "*.wild 300 IN TXT \"wild\"", "*.wcname 300 IN CNAME www", "alias 300 IN CNAME www", "dname 300 IN DNAME lb.example."]
[zone.dnssec]
key_dir = "keys"

[check.c]
type     = "tcp"
port     = 80
interval = "500ms"
timeout  = "250ms"
rise     = 1
fall     = 1

[[pool]]
name    = "www.lb.example."
policy  = "all"
answers = 0
ttl     = 5
check   = "c"
members = [{ address = "192.0.2.1" }, { address = "192.0.2.2" }, { address = "192.0.2.3" }]
`

// signedParent returns the parent zone example. delegating lb.example. to
// dnslb with ds, signed with a new key (NSEC chain included), and that
// key, the resolver's trust anchor.
func signedParent(t *testing.T, ds []*dns.DS) (string, *dns.DNSKEY) {
	t.Helper()
	key := &dns.DNSKEY{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600}, Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := key.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	sets := [][]dns.RR{
		{rr("example. 3600 IN SOA ns1.example. hostmaster.example. 1 3600 900 604800 300")},
		{rr("example. 3600 IN NS ns1.example.")},
		{key},
		{rr("example. 300 IN NSEC lb.example. NS SOA RRSIG NSEC DNSKEY")},
		{rr("lb.example. 300 IN NSEC ns1.example. NS DS RRSIG NSEC")},
		{rr("ns1.example. 3600 IN A 127.0.9.3")},
		{rr("ns1.example. 300 IN NSEC example. A RRSIG NSEC")},
	}
	var dsSet []dns.RR
	for _, d := range ds {
		dsSet = append(dsSet, d)
	}
	sets = append(sets, dsSet)
	var b strings.Builder
	now := time.Now()
	for _, set := range sets {
		sig := &dns.RRSIG{Algorithm: key.Algorithm, Expiration: uint32(now.Add(24 * time.Hour).Unix()), Inception: uint32(now.Add(-time.Hour).Unix()), KeyTag: key.KeyTag(), SignerName: "example."}
		if err := sig.Sign(priv.(crypto.Signer), set); err != nil {
			t.Fatal(err)
		}
		for _, r := range append(set, sig) {
			b.WriteString(r.String() + "\n")
		}
	}
	// The delegation and its glue: not signed.
	b.WriteString("lb.example. 3600 IN NS ns1.lb.example.\nns1.lb.example. 3600 IN A 127.0.9.2\n")
	return b.String(), key
}

// secAsk asks the resolver with DO set (and AD, RFC 6840 §5.7).
func secAsk(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, true)
	m.AuthenticatedData = true
	c := &dns.Client{Timeout: 10 * time.Second}
	r, _, err := c.Exchange(m, secResolver)
	return r, err
}

// TestResolverValidates: Unbound validates dnslb's answers through a
// signed parent: positive, pooled, wildcard and denied answers come back
// with AD, and so do a wildcard CNAME into the pool (signed as the name
// asked for), answers through a DNAME (its CNAME unsigned) and NSEC
// queries; a member that dies leaves the answers while they stay valid;
// a DS of another key makes every answer SERVFAIL.
func TestResolverValidates(t *testing.T) {
	testutil.RequireTools(t, "nsd", "unbound")
	requireFree(t, []string{secDNSLB, secParent, secResolver}, nil)
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": secDNSLBConfig})
	probe := newFakeProbe()
	start(t, filepath.Join(dir, "dnslb.toml"), Options{Probe: probe.probe})
	ds, err := DS(filepath.Join(dir, "dnslb.toml"), "lb.example.")
	if err != nil || len(ds) != 1 {
		t.Fatalf("DS: %v %v", ds, err)
	}

	chain := func(t *testing.T, ds []*dns.DS) {
		zone, anchor := signedParent(t, ds)
		startChain(t, secParent, zone, secResolver, anchor.String())
	}

	t.Run("valid", func(t *testing.T) {
		chain(t, ds)
		for _, tc := range []struct {
			name   string
			qtype  uint16
			answer int
		}{
			{"www.lb.example.", dns.TypeA, 3},
			{"lb.example.", dns.TypeSOA, 1},
			{"x.wild.lb.example.", dns.TypeTXT, 1},
			{"www.lb.example.", dns.TypeAAAA, 0},
			{"nope.lb.example.", dns.TypeA, 0}, // compact NXDOMAIN: a validated NOERROR
			{"alias.lb.example.", dns.TypeA, 3},
			{"p.wcname.lb.example.", dns.TypeA, 3},
			{"www.dname.lb.example.", dns.TypeA, 3},
			{"x.wild.dname.lb.example.", dns.TypeTXT, 1},
			{"nope.dname.lb.example.", dns.TypeA, 0},
			{"www.lb.example.", dns.TypeNSEC, 1},
			{"lb.example.", dns.TypeNSEC, 1},
			{"alias.lb.example.", dns.TypeNSEC, 1},
			{"nope.lb.example.", dns.TypeNSEC, 1}, // NXNAME, as an answer
			{"x.dname.lb.example.", dns.TypeNSEC, 1},
		} {
			r, err := secAsk(tc.name, tc.qtype)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			n := 0
			for _, rr := range r.Answer {
				if rr.Header().Rrtype == tc.qtype {
					n++
				}
			}
			if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData || n != tc.answer {
				t.Errorf("%s %s: want NOERROR, AD and %d answers, got\n%v", tc.name, dns.TypeToString[tc.qtype], tc.answer, r)
			}
		}
		// A member dies: it leaves Unbound's answers, which stay validated.
		probe.set("192.0.2.2", fakeFigures{down: true})
		testutil.WaitFor(t, 20*time.Second, "192.0.2.2 withdrawn via Unbound", func() bool {
			r, err := secAsk("www.lb.example.", dns.TypeA)
			if err != nil {
				return false
			}
			if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
				t.Fatalf("answer not validated while a member dies:\n%v", r)
			}
			got := addresses(r)
			return len(got) == 2 && !slices.Contains(got, "192.0.2.2")
		})
		probe.set("192.0.2.2", fakeFigures{})
		testutil.WaitFor(t, 20*time.Second, "192.0.2.2 back via Unbound", func() bool {
			r, err := secAsk("www.lb.example.", dns.TypeA)
			return err == nil && r.AuthenticatedData && len(addresses(r)) == 3
		})
	})
	if t.Failed() {
		return
	}
	t.Run("wrong DS", func(t *testing.T) {
		other := &dns.DNSKEY{Hdr: dns.RR_Header{Name: "lb.example.", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600}, Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
		if _, err := other.Generate(256); err != nil {
			t.Fatal(err)
		}
		chain(t, []*dns.DS{other.ToDS(dns.SHA256)})
		r, err := secAsk("www.lb.example.", dns.TypeA)
		if err != nil || r.Rcode != dns.RcodeServerFailure {
			t.Errorf("want SERVFAIL with a DS of another key, got %v %v", r, err)
		}
	})
}
