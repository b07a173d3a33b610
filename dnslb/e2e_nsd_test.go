package dnslb

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/config"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// nsdDifferences are the conformance cases where dnslb and NSD 4.6 (Debian
// 12) answer differently, by case name; transport "" means both. Each is
// either justified (bug false) or a dnslb bug not fixed yet (bug true).
// Everything else must match: rcode, AA, TC, whether an OPT comes back, and
// each section as a set of records, TTLs included. An entry whose case no
// longer differs fails the test, so that the list stays true.
var nsdDifferences = []struct {
	name, transport, reason string
	bug                     bool
}{
	{name: "ANY below a DNAME", reason: "both give the DNAME and the synthesized CNAME, then answer ANY at the target: dnslb with RFC 8482 §4.2's HINFO, NSD with every RRset"},
	{name: "ANY gets the RFC 8482 answer", reason: "dnslb answers ANY with RFC 8482 §4.2's synthesized HINFO; NSD (refuse-any off) returns every RRset of the name"},
	{name: "NOTIFY is NOTIMP", reason: "dnslb is a primary only and implements no NOTIFY: NOTIMP (RFC 8906 §3.1.4); NSD refuses NOTIFY from a peer not in allow-notify, with neither question nor OPT"},
	{name: "UPDATE is NOTIMP", reason: "same rcode; NSD strips the question and the OPT, dnslb keeps both (RFC 6891 §7: a request with OPT gets a response with OPT)"},
	{name: "STATUS is NOTIMP", reason: "same rcode; NSD strips the question and the OPT, dnslb keeps both (RFC 6891 §7)"},
	{name: "class ANY is REFUSED", reason: "dnslb refuses QCLASS ANY like any class but IN (issue 2); NSD answers it from the IN data without AA"},
	{name: "AXFR is REFUSED", transport: "udp", reason: "RFC 5936 §4.2 leaves AXFR over UDP undefined: NSD (and Knot) say NOTIMP, dnslb refuses it as over TCP"},
	{name: "MX with additional", reason: "NSD's minimal-responses leaves out MX targets' addresses, which dnslb adds (issue 2); without it NSD puts the apex NS in every answer's authority"},
	{name: "SRV with additional", reason: "NSD's minimal-responses leaves out SRV targets' addresses, which dnslb adds (issue 2)"},
	{name: "a malformed cookie is FORMERR", reason: "RFC 7873 §5.2.2: FORMERR; NSD without answer-cookie ignores the option"},
	{name: "two cookies are FORMERR", reason: "dnslb refuses two COOKIE options as malformed; NSD without answer-cookie ignores them"},
}

// nsdExtra are queries beyond the conformance table, compared with NSD
// only: corners where dnslb and NSD were seen to agree (or to differ in
// nsdDifferences). Only qname, qtype and edit matter here.
var nsdExtra = []dnsCase{
	{name: "DS below a cut", qname: "ns.sub.example.", qtype: dns.TypeDS},
	{name: "a wildcard's name below a cut", qname: "*.sub.example.", qtype: dns.TypeA},
	{name: "NS below a cut", qname: "host.sub.example.", qtype: dns.TypeNS},
	{name: "referral with in-bailiwick glue", qname: "nods.example.", qtype: dns.TypeA},
	{name: "empty non-terminal above a wildcard", qname: "wild.example.", qtype: dns.TypeA},
	{name: "ANY through a wildcard CNAME", qname: "x.wcname.example.", qtype: dns.TypeANY},
	{name: "ANY at an empty non-terminal above a wildcard", qname: "wild.example.", qtype: dns.TypeANY},
	{name: "empty non-terminal owning _udp", qname: "_udp.example.", qtype: dns.TypeSRV},
	{name: "wildcard CNAME to NODATA", qname: "x.wcname.example.", qtype: dns.TypeMX},
	{name: "qtype CNAME at a wildcard CNAME", qname: "x.wcname.example.", qtype: dns.TypeCNAME},
	{name: "a wildcard is not a closest encloser", qname: "x.*.wild.example.", qtype: dns.TypeA},
	{name: "case kept along a CNAME chain", qname: "CHAIN1.Example.", qtype: dns.TypeA},
	{name: "case kept in a wildcard answer", qname: "Anything.WILD.example.", qtype: dns.TypeTXT},
	{name: "qtype 0 is NODATA", qname: "www.example.", qtype: 0},
	{name: "DO bit echoed", qname: "example.", qtype: dns.TypeSOA, edit: func(m *dns.Msg) { m.Extra = nil; m.SetEdns0(1232, true) }},
	{name: "EDNS 512 truncates what needs more", qname: "mid.example.", qtype: dns.TypeTXT, edit: func(m *dns.Msg) { m.Extra = nil; m.SetEdns0(512, false) }},
	{name: "referral without EDNS", qname: "sub.example.", qtype: dns.TypeNS, edit: noEDNS},
	{name: "case kept through a DNAME", qname: "WWW.Old.Example.", qtype: dns.TypeA},
	{name: "DNAME then a CNAME chain", qname: "chain1.old.example.", qtype: dns.TypeA},
	{name: "DNAME to a wildcard", qname: "x.wild.old.example.", qtype: dns.TypeA},
	{name: "DNAME to a delegation", qname: "host.sub.old.example.", qtype: dns.TypeA},
	{name: "ANY below a DNAME", qname: "www.old.example.", qtype: dns.TypeANY},
}

// TestCompareWithNSD asks NSD and dnslb, serving the same zones, every
// query of the conformance table and of nsdExtra over UDP and TCP, and
// compares the answers. NSD runs with minimal-responses (dnslb adds no NS to the
// authority section of positive answers, and NSD then does not either),
// refuse-any off (it would truncate every ANY over UDP), no round-robin,
// hide-version (version.bind is refused, as dnslb refuses class CH), and its
// default EDNS size of 1232 (dnslb's default udp_size).
func TestCompareWithNSD(t *testing.T) {
	testutil.RequireTools(t, "nsd")
	ts := start(t, confPath, Options{})
	nsdAddr := startNSD(t, confPath)

	allowed := map[string]string{}
	for _, d := range nsdDifferences {
		for _, netw := range transports {
			if d.transport == "" || d.transport == netw {
				allowed[netw+"/"+d.name] = d.reason
				if d.bug {
					allowed[netw+"/"+d.name] = "dnslb bug: " + d.reason
				}
			}
		}
	}
	cases := append(slices.Clone(conformance), nsdExtra...)
	for _, netw := range transports {
		for i, tc := range cases {
			t.Run(netw+"/"+tc.name, func(t *testing.T) {
				m := tc.request(uint16(i + 1))
				ours := ts.exchange(t, netw, m.Copy())
				theirs := exchangeWith(t, netw, nsdAddr, m.Copy())
				diffs := compareResponses(ours, theirs)
				reason, ok := allowed[netw+"/"+tc.name]
				switch {
				case len(diffs) > 0 && !ok:
					t.Errorf("dnslb and NSD differ: %s\n--- dnslb:\n%v\n--- nsd:\n%v", strings.Join(diffs, "; "), ours, theirs)
				case len(diffs) > 0:
					t.Logf("known difference (%s): %s\n--- dnslb:\n%v\n--- nsd:\n%v", reason, strings.Join(diffs, "; "), ours, theirs)
				case ok:
					t.Errorf("listed as a known difference (%s), but the answers agree: remove it from nsdDifferences", reason)
				}
			})
		}
	}
}

// compareResponses lists what differs between a and b.
func compareResponses(a, b *dns.Msg) []string {
	var d []string
	if a.Rcode != b.Rcode {
		d = append(d, fmt.Sprintf("rcode %s vs %s", dns.RcodeToString[a.Rcode], dns.RcodeToString[b.Rcode]))
	}
	if a.Authoritative != b.Authoritative {
		d = append(d, fmt.Sprintf("AA %v vs %v", a.Authoritative, b.Authoritative))
	}
	if a.Truncated != b.Truncated {
		d = append(d, fmt.Sprintf("TC %v vs %v", a.Truncated, b.Truncated))
	}
	if (a.IsEdns0() == nil) != (b.IsEdns0() == nil) {
		d = append(d, fmt.Sprintf("OPT %v vs %v", a.IsEdns0() != nil, b.IsEdns0() != nil))
	}
	for _, s := range []struct {
		name string
		a, b []dns.RR
	}{{"answer", a.Answer, b.Answer}, {"authority", a.Ns, b.Ns}, {"additional", a.Extra, b.Extra}} {
		x, y := rrStrings(s.a), rrStrings(s.b)
		slices.Sort(x)
		slices.Sort(y)
		if !slices.Equal(x, y) {
			d = append(d, s.name+" section")
		}
	}
	return d
}

func exchangeWith(t *testing.T, netw, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: netw, Timeout: 3 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", netw, m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], err)
	}
	return r
}

// startNSD runs NSD until the test ends, serving the zones of the dnslb
// config at cfgPath, and returns its address.
func startNSD(t *testing.T, cfgPath string) string {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var zones []testutil.NSDZone
	for _, z := range cfg.Zones {
		text := "$ORIGIN " + z.Origin + "\n"
		if z.File != "" {
			abs, err := filepath.Abs(z.File)
			if err != nil {
				t.Fatal(err)
			}
			text += "$INCLUDE " + abs + " " + z.Origin + "\n"
		}
		text += strings.Join(z.Records, "\n") + "\n"
		zones = append(zones, testutil.NSDZone{Name: z.Origin, Text: text})
	}
	return testutil.StartNSD(t, testutil.NSD{
		Listen: "127.0.0.1:0",
		Zones:  zones,
		Server: []string{"verbosity: 1", "minimal-responses: yes", "refuse-any: no", "round-robin: no", "hide-version: yes", "hide-identity: yes"},
	}).Addr
}
