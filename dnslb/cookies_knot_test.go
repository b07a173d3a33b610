package dnslb

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// startKnot runs knotd with its cookies module keyed by secret (hex),
// serving lb.test. as cookieConfig does, and returns its address.
func startKnot(t *testing.T, secret string) string {
	t.Helper()
	return testutil.StartKnot(t, testutil.Knot{
		Listen:   "127.0.0.1:0",
		Files:    map[string]string{"lb.test.zone": "@ 60 IN SOA ns1 hm 1 3600 600 86400 30\n@ 60 IN NS ns1\nns1 60 IN A 192.0.2.1\nwww 60 IN A 192.0.2.80\n"},
		Template: []string{"global-module: mod-cookies/c"},
		Config:   "mod-cookies:\n  - id: c\n    secret: 0x" + secret + "\nzone:\n  - domain: lb.test\n    file: lb.test.zone\n",
	}).Addr
}

// TestCookieKnot: dnslb and Knot (mod-cookies) sharing a secret accept
// each other's RFC 9018 cookies, and answer each kind of cookie alike —
// except a client cookie alone over UDP, which Knot answers BADCOOKIE and
// dnslb answers (RFC 7873 §5.2.3 allows both; the README says why).
func TestCookieKnot(t *testing.T) {
	knot := startKnot(t, cookieSecretA)
	ts := start(t, cookieConfig(t, `cookie_secret_file = "`+secretFile(t, cookieSecretA)+`"`, ""), Options{})
	ours := cookieOf(cookieExchange(t, "tcp", "127.0.0.1", ts.addr, clientCookie))
	theirs := cookieOf(cookieExchange(t, "tcp", "127.0.0.1", knot, clientCookie))
	if len(ours) != 48 || len(theirs) != 48 {
		t.Fatalf("cookies: dnslb %q, knot %q", ours, theirs)
	}
	forged := clientCookie + "01000000" + ours[24:32] + "0011223344556677"
	for _, tc := range []struct {
		name, netw, cookie string
		dnslb, knot        int
	}{
		{"knot's cookie", "udp", theirs, dns.RcodeSuccess, dns.RcodeSuccess},
		{"dnslb's cookie", "udp", ours, dns.RcodeSuccess, dns.RcodeSuccess},
		{"forged", "udp", forged, rcodeBadCookie, rcodeBadCookie},
		{"forged over TCP", "tcp", forged, dns.RcodeSuccess, dns.RcodeSuccess},
		{"client cookie alone over TCP", "tcp", clientCookie, dns.RcodeSuccess, dns.RcodeSuccess},
		{"no cookie", "udp", "", dns.RcodeSuccess, dns.RcodeSuccess},
		{"client cookie alone (known difference)", "udp", clientCookie, dns.RcodeSuccess, rcodeBadCookie},
	} {
		for _, s := range []struct {
			name, addr string
			want       int
		}{{"dnslb", ts.addr, tc.dnslb}, {"knot", knot, tc.knot}} {
			r := cookieExchange(t, tc.netw, "127.0.0.1", s.addr, tc.cookie)
			if r == nil || r.Rcode != s.want {
				t.Errorf("%s, %s: %v, want %s", tc.name, s.name, r, dns.RcodeToString[s.want])
				continue
			}
			if got := cookieOf(r); tc.cookie != "" && (len(got) != 48 || !strings.HasPrefix(got, clientCookie+"01000000")) {
				t.Errorf("%s, %s: cookie %q, want a version 1 server cookie", tc.name, s.name, got)
			}
		}
	}
}
