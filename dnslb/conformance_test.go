package dnslb

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const (
	negSOA   = "example. 60 IN SOA ns1.example. hostmaster.example. 2026112401 3600 600 604800 60"
	subNS    = "sub.example. 300 IN NS ns.sub.example."
	subNS2   = "sub.example. 300 IN NS ns.elsewhere.net."
	subGlue  = "ns.sub.example. 300 IN A 192.0.2.53"
	wwwA     = "www.example. 300 IN A 192.0.2.10"
	confPath = "../testdata/conformance/dnslb.toml"
	oldDNAME = "old.example. 300 IN DNAME example."
)

// longTarget is long.example.'s DNAME target: a name below long.example.
// of more than 70 octets does not fit once substituted.
var (
	longTarget     = strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + ".example."
	longBelowDNAME = strings.Repeat("x", 63) + "." + strings.Repeat("y", 10) + ".long.example."
)

// dnsCase is one query of the conformance table and what the answer must be.
type dnsCase struct {
	name   string
	qname  string
	qtype  uint16
	edit   func(*dns.Msg) // changes the query before it is sent
	rcode  int
	aa     bool
	answer []string // in order
	ns     []string // in any order
	extra  []string // in any order, OPT excluded
	// truncUDP: over UDP the answer does not fit: TC=1 and no records;
	// over TCP the records above come whole.
	truncUDP bool
	check    func(t *testing.T, r *dns.Msg) // further checks
}

func noEDNS(m *dns.Msg) {
	m.Extra = nil
}

func bigEDNS(m *dns.Msg) {
	m.Extra = nil
	m.SetEdns0(4096, false)
}

var txtMid, txtBig = txtRecords("mid", "y", 3), txtRecords("big", "x", 10)

func txtRecords(owner, fill string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s.example. 300 IN TXT \"%02d%s\"", owner, i, strings.Repeat(fill, 198)))
	}
	return out
}

// request is the case's query, with EDNS as dig sends it.
func (tc dnsCase) request(id uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(tc.qname, tc.qtype)
	m.Id = id
	m.SetEdns0(1232, false)
	if tc.edit != nil {
		tc.edit(m)
	}
	return m
}

var conformance = []dnsCase{
	// Authoritative answers: AA=1, RD copied, RA=0.
	{name: "A", qname: "www.example.", qtype: dns.TypeA, aa: true, answer: []string{wwwA}},
	{name: "AAAA", qname: "www.example.", qtype: dns.TypeAAAA, aa: true, answer: []string{"www.example. 300 IN AAAA 2001:db8::10"}},
	{name: "SOA at apex", qname: "example.", qtype: dns.TypeSOA, aa: true, answer: []string{"example. 300 IN SOA ns1.example. hostmaster.example. 2026112401 3600 600 604800 60"}},
	{name: "NS at apex with in-zone addresses", qname: "example.", qtype: dns.TypeNS, aa: true,
		answer: []string{"example. 300 IN NS ns1.example.", "example. 300 IN NS ns2.elsewhere.net."},
		extra:  []string{"ns1.example. 300 IN A 192.0.2.1", "ns1.example. 300 IN AAAA 2001:db8::1"}},
	{name: "MX with additional", qname: "example.", qtype: dns.TypeMX, aa: true,
		answer: []string{"example. 300 IN MX 10 mail.example."}, extra: []string{"mail.example. 300 IN A 192.0.2.25"}},
	{name: "SRV with additional", qname: "_sip._udp.example.", qtype: dns.TypeSRV, aa: true,
		answer: []string{"_sip._udp.example. 300 IN SRV 10 60 5060 sip.example."}, extra: []string{"sip.example. 300 IN A 192.0.2.50"}},
	// The answer's owner points at the question, so it keeps the asked case too (as in NSD).
	{name: "question case preserved (0x20)", qname: "wWw.ExAmPlE.", qtype: dns.TypeA, aa: true, answer: []string{"wWw.ExAmPlE. 300 IN A 192.0.2.10"},
		check: func(t *testing.T, r *dns.Msg) {
			if r.Question[0].Name != "wWw.ExAmPlE." {
				t.Errorf("question %q, want the case as asked", r.Question[0].Name)
			}
		}},
	{name: "RD clear stays clear", qname: "www.example.", qtype: dns.TypeA, aa: true, answer: []string{wwwA},
		edit: func(m *dns.Msg) { m.RecursionDesired = false }},
	// Negative answers carry the SOA with TTL min(SOA TTL, MINIMUM).
	{name: "NXDOMAIN", qname: "nope.example.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, ns: []string{negSOA}},
	{name: "NODATA", qname: "www.example.", qtype: dns.TypeMX, aa: true, ns: []string{negSOA}},
	{name: "unknown type is NODATA", qname: "www.example.", qtype: 65000, aa: true, ns: []string{negSOA}},
	{name: "empty non-terminal is NODATA", qname: "b.ent.example.", qtype: dns.TypeA, aa: true, ns: []string{negSOA}},
	{name: "empty non-terminal at top is NODATA", qname: "ent.example.", qtype: dns.TypeTXT, aa: true, ns: []string{negSOA}},
	{name: "below an empty non-terminal is NXDOMAIN", qname: "x.b.ent.example.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, ns: []string{negSOA}},
	// Delegations.
	{name: "referral at the cut", qname: "sub.example.", qtype: dns.TypeA, ns: []string{subNS, subNS2}, extra: []string{subGlue}},
	{name: "referral below the cut", qname: "deep.host.sub.example.", qtype: dns.TypeA, ns: []string{subNS, subNS2}, extra: []string{subGlue}},
	{name: "referral for NS at the cut", qname: "sub.example.", qtype: dns.TypeNS, ns: []string{subNS, subNS2}, extra: []string{subGlue}},
	{name: "glue is not an answer", qname: "ns.sub.example.", qtype: dns.TypeA, ns: []string{subNS, subNS2}, extra: []string{subGlue}},
	{name: "DS at the cut from the parent", qname: "sub.example.", qtype: dns.TypeDS, aa: true,
		answer: []string{"sub.example. 300 IN DS 12345 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"}},
	{name: "no DS at the cut is NODATA", qname: "nods.example.", qtype: dns.TypeDS, aa: true, ns: []string{negSOA}},
	{name: "wildcard below a cut is not used", qname: "x.sub.example.", qtype: dns.TypeA, ns: []string{subNS, subNS2}, extra: []string{subGlue}},
	// CNAME.
	{name: "CNAME chased in zone", qname: "alias.example.", qtype: dns.TypeA, aa: true,
		answer: []string{"alias.example. 300 IN CNAME www.example.", wwwA}},
	{name: "CNAME chain", qname: "chain1.example.", qtype: dns.TypeA, aa: true,
		answer: []string{"chain1.example. 300 IN CNAME chain2.example.", "chain2.example. 300 IN CNAME www.example.", wwwA}},
	{name: "CNAME loop stops", qname: "loop1.example.", qtype: dns.TypeA, aa: true,
		answer: []string{"loop1.example. 300 IN CNAME loop2.example.", "loop2.example. 300 IN CNAME loop1.example."}},
	{name: "CNAME out of zone not chased", qname: "out.example.", qtype: dns.TypeA, aa: true,
		answer: []string{"out.example. 300 IN CNAME www.example.net."}},
	{name: "CNAME to NXDOMAIN", qname: "tonx.example.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
		answer: []string{"tonx.example. 300 IN CNAME nothere.example."}, ns: []string{negSOA}},
	{name: "CNAME to NODATA", qname: "alias.example.", qtype: dns.TypeMX, aa: true,
		answer: []string{"alias.example. 300 IN CNAME www.example."}, ns: []string{negSOA}},
	{name: "CNAME into a delegation gets the referral", qname: "todeleg.example.", qtype: dns.TypeA, aa: true,
		answer: []string{"todeleg.example. 300 IN CNAME host.sub.example."}, ns: []string{subNS, subNS2}, extra: []string{subGlue}},
	{name: "qtype CNAME gets the CNAME only", qname: "alias.example.", qtype: dns.TypeCNAME, aa: true,
		answer: []string{"alias.example. 300 IN CNAME www.example."}},
	// Wildcards (RFC 4592).
	{name: "wildcard synthesizes the owner", qname: "anything.wild.example.", qtype: dns.TypeA, aa: true,
		answer: []string{"anything.wild.example. 300 IN A 192.0.2.80"}},
	{name: "wildcard deeper", qname: "a.b.wild.example.", qtype: dns.TypeTXT, aa: true,
		answer: []string{"a.b.wild.example. 300 IN TXT \"wild\""}},
	{name: "wildcard NODATA", qname: "anything.wild.example.", qtype: dns.TypeAAAA, aa: true, ns: []string{negSOA}},
	{name: "existing name blocks the wildcard", qname: "host.wild.example.", qtype: dns.TypeTXT, aa: true, ns: []string{negSOA}},
	{name: "wildcard not below an existing name", qname: "x.host.wild.example.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, ns: []string{negSOA}},
	{name: "wildcard CNAME chased", qname: "x.wcname.example.", qtype: dns.TypeA, aa: true,
		answer: []string{"x.wcname.example. 300 IN CNAME www.example.", wwwA}},
	{name: "asking for the wildcard itself", qname: "*.wild.example.", qtype: dns.TypeA, aa: true,
		answer: []string{"*.wild.example. 300 IN A 192.0.2.80"}},
	// DNAME (RFC 6672): the DNAME, a CNAME synthesized from it, chased in zone.
	{name: "DNAME synthesizes a CNAME, chased in zone", qname: "www.old.example.", qtype: dns.TypeA, aa: true,
		answer: []string{oldDNAME, "www.old.example. 300 IN CNAME www.example.", wwwA}},
	{name: "DNAME to a missing name is NXDOMAIN", qname: "nope.old.example.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
		answer: []string{oldDNAME, "nope.old.example. 300 IN CNAME nope.example."}, ns: []string{negSOA}},
	{name: "DNAME deeper", qname: "a.b.ent.old.example.", qtype: dns.TypeTXT, aa: true,
		answer: []string{oldDNAME, "a.b.ent.old.example. 300 IN CNAME a.b.ent.example.", "a.b.ent.example. 300 IN TXT \"deep\""}},
	{name: "DNAME out of zone not chased", qname: "x.ext.example.", qtype: dns.TypeA, aa: true,
		answer: []string{"ext.example. 300 IN DNAME example.net.", "x.ext.example. 300 IN CNAME x.example.net."}},
	{name: "DNAME owner keeps its data", qname: "old.example.", qtype: dns.TypeTXT, aa: true,
		answer: []string{"old.example. 300 IN TXT \"renamed\""}},
	{name: "DNAME asked for", qname: "old.example.", qtype: dns.TypeDNAME, aa: true, answer: []string{oldDNAME}},
	{name: "qtype CNAME below a DNAME", qname: "www.old.example.", qtype: dns.TypeCNAME, aa: true,
		answer: []string{oldDNAME, "www.old.example. 300 IN CNAME www.example."}},
	{name: "DNAME substitution too long is YXDOMAIN", qname: longBelowDNAME, qtype: dns.TypeA, rcode: dns.RcodeYXDomain, aa: true,
		answer: []string{"long.example. 300 IN DNAME " + longTarget}},
	// Not ours, other classes, other opcodes, meta types.
	{name: "out of zone is REFUSED", qname: "www.example.net.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
	{name: "parent of a zone is REFUSED", qname: "test.", qtype: dns.TypeSOA, rcode: dns.RcodeRefused},
	{name: "second zone", qname: "ns1.other.test.", qtype: dns.TypeA, aa: true, answer: []string{"ns1.other.test. 3600 IN A 192.0.2.2"}},
	{name: "class CH is REFUSED", qname: "version.bind.", qtype: dns.TypeTXT, rcode: dns.RcodeRefused,
		edit: func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }},
	{name: "class ANY is REFUSED", qname: "www.example.", qtype: dns.TypeA, rcode: dns.RcodeRefused,
		edit: func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassANY }},
	{name: "NOTIFY is NOTIMP", qname: "example.", qtype: dns.TypeSOA, rcode: dns.RcodeNotImplemented,
		edit: func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }},
	{name: "UPDATE is NOTIMP", qname: "example.", qtype: dns.TypeSOA, rcode: dns.RcodeNotImplemented,
		edit: func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }},
	{name: "STATUS is NOTIMP", qname: "example.", qtype: dns.TypeSOA, rcode: dns.RcodeNotImplemented,
		edit: func(m *dns.Msg) { m.Opcode = dns.OpcodeStatus }},
	{name: "AXFR is REFUSED", qname: "example.", qtype: dns.TypeAXFR, rcode: dns.RcodeRefused},
	{name: "IXFR with its SOA in authority is REFUSED", qname: "example.", qtype: dns.TypeIXFR, rcode: dns.RcodeRefused,
		edit: func(m *dns.Msg) {
			soa, _ := dns.NewRR("example. 300 IN SOA ns1.example. hostmaster.example. 2026112400 3600 600 604800 60")
			m.Ns = []dns.RR{soa}
		}},
	{name: "ANY gets the RFC 8482 answer", qname: "www.example.", qtype: dns.TypeANY, aa: true,
		answer: []string{"www.example. 3789 IN HINFO \"RFC8482\" \"\""}},
	{name: "ANY at a CNAME is the CNAME", qname: "alias.example.", qtype: dns.TypeANY, aa: true,
		answer: []string{"alias.example. 300 IN CNAME www.example."}},
	{name: "ANY at an empty non-terminal is NODATA", qname: "ent.example.", qtype: dns.TypeANY, aa: true, ns: []string{negSOA}},
	{name: "ANY on a missing name is NXDOMAIN", qname: "nope.example.", qtype: dns.TypeANY, rcode: dns.RcodeNameError, aa: true, ns: []string{negSOA}},
	// EDNS (RFC 6891).
	{name: "no OPT in, no OPT out", qname: "www.example.", qtype: dns.TypeA, aa: true, answer: []string{wwwA}, edit: noEDNS,
		check: func(t *testing.T, r *dns.Msg) {
			if r.IsEdns0() != nil {
				t.Error("OPT in the response to a query without one")
			}
		}},
	{name: "OPT echoed, version 0, our size, DO echoed", qname: "www.example.", qtype: dns.TypeA, aa: true, answer: []string{wwwA},
		edit: func(m *dns.Msg) { m.Extra = nil; m.SetEdns0(4096, true) },
		check: func(t *testing.T, r *dns.Msg) {
			o := r.IsEdns0()
			if o == nil || o.Version() != 0 || o.UDPSize() != 1232 || !o.Do() {
				t.Errorf("OPT %v: want version 0, size 1232, DO", o)
			}
		}},
	{name: "unknown options and flags are not echoed; a client cookie gets a server cookie", qname: "www.example.", qtype: dns.TypeA, aa: true, answer: []string{wwwA},
		edit: func(m *dns.Msg) {
			o := m.IsEdns0()
			o.SetZ(0x7fff)
			o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2, 3}}, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		},
		check: func(t *testing.T, r *dns.Msg) {
			o := r.IsEdns0()
			if o == nil || len(o.Option) != 1 || o.Z() != 0 {
				t.Fatalf("OPT %v: want only the cookie and no flags", o)
			}
			if c, ok := o.Option[0].(*dns.EDNS0_COOKIE); !ok || len(c.Cookie) != 48 || !strings.HasPrefix(c.Cookie, "010203040506070801000000") {
				t.Errorf("OPT %v: want the client cookie and a version 1 server cookie", o)
			}
		}},
	{name: "a malformed cookie is FORMERR", qname: "www.example.", qtype: dns.TypeA, rcode: dns.RcodeFormatError,
		edit: func(m *dns.Msg) {
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "01020304050607080910"})
		}},
	{name: "two cookies are FORMERR", qname: "www.example.", qtype: dns.TypeA, rcode: dns.RcodeFormatError,
		edit: func(m *dns.Msg) {
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}},
	{name: "EDNS version 1 is BADVERS", qname: "www.example.", qtype: dns.TypeA, rcode: dns.RcodeBadVers,
		edit: func(m *dns.Msg) { m.IsEdns0().SetVersion(1) },
		check: func(t *testing.T, r *dns.Msg) {
			if o := r.IsEdns0(); o == nil || o.Version() != 0 {
				t.Errorf("OPT %v: want version 0", o)
			}
		}},
	{name: "two OPT records is FORMERR", qname: "www.example.", qtype: dns.TypeA, rcode: dns.RcodeFormatError,
		edit: func(m *dns.Msg) { m.Extra = append(m.Extra, m.Extra[0]) }},
	{name: "OPT not at the root is FORMERR", qname: "www.example.", qtype: dns.TypeA, rcode: dns.RcodeFormatError,
		edit: func(m *dns.Msg) { m.IsEdns0().Hdr.Name = "example." }},
	// Sizes: 512 without EDNS; the requester's size up to our 1232 with it.
	{name: "fits 512", qname: "example.", qtype: dns.TypeNS, aa: true, edit: noEDNS,
		answer: []string{"example. 300 IN NS ns1.example.", "example. 300 IN NS ns2.elsewhere.net."},
		extra:  []string{"ns1.example. 300 IN A 192.0.2.1", "ns1.example. 300 IN AAAA 2001:db8::1"}},
	{name: "over 512 without EDNS is truncated", qname: "mid.example.", qtype: dns.TypeTXT, aa: true, edit: noEDNS, answer: txtMid, truncUDP: true},
	{name: "over 512 fits EDNS 1232", qname: "mid.example.", qtype: dns.TypeTXT, aa: true, answer: txtMid},
	{name: "over 1232 is truncated even for 4096", qname: "big.example.", qtype: dns.TypeTXT, aa: true, edit: bigEDNS, answer: txtBig, truncUDP: true},
}

// TestConformance runs every case over UDP and over TCP against the real
// server.
func TestConformance(t *testing.T) {
	ts := start(t, confPath, Options{})
	for _, netw := range transports {
		for _, tc := range conformance {
			t.Run(netw+"/"+tc.name, func(t *testing.T) {
				m := tc.request(dns.Id())
				r := ts.exchange(t, netw, m)
				tc.verify(t, netw, m, r)
			})
		}
	}
}

func (tc *dnsCase) verify(t *testing.T, netw string, q, r *dns.Msg) {
	t.Helper()
	if r.Id != q.Id || !r.Response || r.Opcode != q.Opcode {
		t.Fatalf("id %d qr %v opcode %d, want id %d, a response, opcode %d", r.Id, r.Response, r.Opcode, q.Id, q.Opcode)
	}
	if r.Rcode != tc.rcode {
		t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
	}
	if r.Authoritative != tc.aa {
		t.Errorf("AA %v, want %v", r.Authoritative, tc.aa)
	}
	if r.RecursionAvailable {
		t.Error("RA set: dnslb does not recurse")
	}
	if r.RecursionDesired != q.RecursionDesired {
		t.Errorf("RD %v, want it copied (%v)", r.RecursionDesired, q.RecursionDesired)
	}
	if (r.IsEdns0() != nil) != (q.IsEdns0() != nil) && tc.rcode != dns.RcodeFormatError {
		t.Errorf("OPT in response %v, in query %v", r.IsEdns0() != nil, q.IsEdns0() != nil)
	}
	if len(r.Question) == 1 && r.Question[0] != q.Question[0] {
		t.Errorf("question %v, want %v", r.Question[0], q.Question[0])
	}
	answer, ns, extra := tc.answer, tc.ns, tc.extra
	if tc.truncUDP && netw == "udp" {
		if !r.Truncated {
			t.Errorf("TC clear on a response that cannot fit")
		}
		answer, ns, extra = nil, nil, nil
	} else if r.Truncated {
		t.Errorf("TC set")
	}
	if got := rrStrings(r.Answer); !slices.Equal(got, answer) {
		t.Errorf("answer:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(answer, "\n  "))
	}
	sameSet(t, "authority", rrStrings(r.Ns), ns)
	sameSet(t, "additional", rrStrings(r.Extra), extra)
	if tc.check != nil {
		tc.check(t, r)
	}
}

func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s:\n  %s\nwant:\n  %s", what, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
}

// TestFastPathMatchesGeneral: for every query of the conformance table, the
// response built by the general path (cache empty) and the one sent from
// the answer cache are the same bytes, over UDP and TCP limits alike.
func TestFastPathMatchesGeneral(t *testing.T) {
	srv, err := New(confPath, Options{Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.closeListeners()
	src := netip.MustParseAddrPort("192.0.2.99:5353")
	fromCache := 0
	for _, tcp := range []bool{false, true} {
		w := newWorker(srv, tcp, srv.newStats())
		w.noSynth = true // synthesized answers are never cached: TestSynthMatchesGeneral compares them
		for _, tc := range conformance {
			m := tc.request(dns.Id())
			req, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			clear(srv.snap.Load().cache.slots)
			seenBefore(srv.snap.Load().cache, req)
			general := bytes.Clone(w.serve(req, src))
			if key, ok := parseQuery(req, &query{}, nil); ok && srv.snap.Load().cache.get(key) != nil {
				fromCache++
			}
			cached := w.serve(req, src)
			if !bytes.Equal(general, cached) {
				t.Errorf("%s (tcp %v): general path % x\ncached path  % x", tc.name, tcp, general, cached)
			}
		}
	}
	if fromCache < 2*len(conformance)*3/4 {
		t.Errorf("only %d of %d queries were answered from the cache the second time", fromCache, 2*len(conformance))
	}
	t.Logf("%d of %d queries compared against the cached path", fromCache, 2*len(conformance))
}
