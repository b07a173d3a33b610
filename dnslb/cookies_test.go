package dnslb

import (
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

const (
	cookieSecretA = "00112233445566778899aabbccddeeff"
	cookieSecretB = "ffeeddccbbaa99887766554433221100"
	clientCookie  = "0102030405060708"
)

// cookieConfig is a server on 127.0.0.1:0 with the given [server] and
// [rrl] lines.
func cookieConfig(t *testing.T, server, rrl string) string {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = ""
` + server + `
` + rrl + `
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1", "www 60 IN A 192.0.2.80"]
`})
	return filepath.Join(dir, "dnslb.toml")
}

// secretFile writes a cookie secret file of the given lines.
func secretFile(t *testing.T, lines ...string) string {
	p := filepath.Join(t.TempDir(), "cookie.secret")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// cookieExchange asks www.lb.test. A over netw from local (an address of
// 127.0.0.0/8) with cookie (hex, "" for none), waiting generously for the
// response. It returns nil on timeout.
func cookieExchange(t *testing.T, netw, local, server, cookie string) *dns.Msg {
	t.Helper()
	return cookieExchangeWithin(t, netw, local, server, cookie, 3*time.Second)
}

// cookieExchangeWithin is cookieExchange waiting at most timeout: for
// queries that rate limiting may drop.
func cookieExchangeWithin(t *testing.T, netw, local, server, cookie string, timeout time.Duration) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www.lb.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	if cookie != "" {
		o := m.IsEdns0()
		o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cookie})
	}
	var la net.Addr = &net.UDPAddr{IP: net.ParseIP(local)}
	if netw == "tcp" {
		la = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c := &dns.Client{Net: netw, Timeout: timeout, Dialer: &net.Dialer{LocalAddr: la, Timeout: time.Second}}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return nil
	}
	return r
}

// cookieOf returns the COOKIE option of r in hex, or "".
func cookieOf(r *dns.Msg) string {
	if r == nil || r.IsEdns0() == nil {
		return ""
	}
	for _, o := range r.IsEdns0().Option {
		if c, ok := o.(*dns.EDNS0_COOKIE); ok {
			return c.Cookie
		}
	}
	return ""
}

// TestCookieBehaviour: what each kind of cookie gets, over UDP and TCP.
func TestCookieBehaviour(t *testing.T) {
	ts := start(t, cookieConfig(t, `cookie_secret_file = "`+secretFile(t, cookieSecretA)+`"`, ""), Options{})
	first := cookieExchange(t, "udp", "127.0.0.1", ts.addr, clientCookie)
	valid := cookieOf(first)
	if first == nil || first.Rcode != dns.RcodeSuccess || len(first.Answer) != 1 || len(valid) != 48 || !strings.HasPrefix(valid, clientCookie+"01000000") {
		t.Fatalf("client cookie alone: %v", first)
	}
	forged := clientCookie + "01000000" + valid[24:32] + "0011223344556677"
	for _, tc := range []struct {
		name, netw, local, cookie string
		rcode                     int
		answered                  bool
	}{
		{"no cookie", "udp", "127.0.0.1", "", dns.RcodeSuccess, true},
		{"valid server cookie", "udp", "127.0.0.1", valid, dns.RcodeSuccess, true},
		{"valid server cookie over TCP", "tcp", "127.0.0.1", valid, dns.RcodeSuccess, true},
		{"forged server cookie", "udp", "127.0.0.1", forged, rcodeBadCookie, false},
		{"forged server cookie over TCP is answered", "tcp", "127.0.0.1", forged, dns.RcodeSuccess, true},
		{"cookie of another address", "udp", "127.0.10.1", valid, rcodeBadCookie, false},
		{"malformed cookie", "udp", "127.0.0.1", clientCookie + "01", dns.RcodeFormatError, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cookieExchange(t, tc.netw, tc.local, ts.addr, tc.cookie)
			if r == nil {
				t.Fatal("no response")
			}
			if r.Rcode != tc.rcode || (len(r.Answer) == 1) != tc.answered {
				t.Fatalf("rcode %s, %d answers; want %s, answered %v", dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[tc.rcode], tc.answered)
			}
			got := cookieOf(r)
			switch {
			case tc.cookie == "" || tc.rcode == dns.RcodeFormatError:
				if got != "" {
					t.Errorf("cookie %s in the response, want none", got)
				}
			case len(got) != 48 || !strings.HasPrefix(got, clientCookie+"01000000"):
				t.Errorf("cookie %q, want the client cookie and a new server cookie", got)
			}
			// A BADCOOKIE's new cookie is accepted when the client retries
			// (RFC 7873 §5.3).
			if tc.rcode == rcodeBadCookie {
				if r := cookieExchange(t, tc.netw, tc.local, ts.addr, got); r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
					t.Errorf("retry with the new cookie: %v", r)
				}
			}
		})
	}
}

// TestCookieSharedSecret: instances sharing cookie_secret_file accept each
// other's cookies; during a rotation (new secret first, the old one second)
// cookies of the old secret are accepted; an instance without the secret,
// or with the new one alone, answers them BADCOOKIE.
func TestCookieSharedSecret(t *testing.T) {
	oldA := start(t, cookieConfig(t, `cookie_secret_file = "`+secretFile(t, cookieSecretA)+`"`, ""), Options{})
	oldB := start(t, cookieConfig(t, `cookie_secret_file = "`+secretFile(t, cookieSecretA)+`"`, ""), Options{})
	rotating := start(t, cookieConfig(t, `cookie_secret_file = "`+secretFile(t, "# new, then old", cookieSecretB, cookieSecretA)+`"`, ""), Options{})
	newOnly := start(t, cookieConfig(t, `cookie_secret_file = "`+secretFile(t, cookieSecretB)+`"`, ""), Options{})
	random := start(t, cookieConfig(t, "", ""), Options{})
	cookie := cookieOf(cookieExchange(t, "udp", "127.0.0.1", oldA.addr, clientCookie))
	if len(cookie) != 48 {
		t.Fatalf("cookie %q", cookie)
	}
	for _, tc := range []struct {
		name  string
		ts    *testServer
		rcode int
	}{
		{"same instance", oldA, dns.RcodeSuccess},
		{"another instance with the secret", oldB, dns.RcodeSuccess},
		{"rotation: the previous secret", rotating, dns.RcodeSuccess},
		{"the new secret alone", newOnly, rcodeBadCookie},
		{"no secret file", random, rcodeBadCookie},
	} {
		r := cookieExchange(t, "udp", "127.0.0.1", tc.ts.addr, cookie)
		if r == nil || r.Rcode != tc.rcode {
			t.Errorf("%s: %v, want %s", tc.name, r, dns.RcodeToString[tc.rcode])
		}
	}
	// During the rotation, new cookies are made with the new secret: the
	// instance with the new secret alone accepts them.
	fresh := cookieOf(cookieExchange(t, "udp", "127.0.0.1", rotating.addr, cookie))
	if r := cookieExchange(t, "udp", "127.0.0.1", newOnly.addr, fresh); r == nil || r.Rcode != dns.RcodeSuccess {
		t.Errorf("cookie made during the rotation, at the new-secret instance: %v", r)
	}
}

// TestCookieRRL: responses to a valid server cookie are never limited;
// a flood with a client cookie alone is limited and its slipped responses
// are BADCOOKIE with a server cookie, which then gets answers.
func TestCookieRRL(t *testing.T) {
	ts := start(t, cookieConfig(t, "", "[rrl]\nresponses_per_second = 5\nslip = 2"), Options{})
	valid := cookieOf(cookieExchange(t, "udp", "127.0.10.1", ts.addr, clientCookie))
	if len(valid) != 48 {
		t.Fatalf("cookie %q", valid)
	}
	for i := range 60 {
		if r := cookieExchange(t, "udp", "127.0.10.1", ts.addr, valid); r == nil || len(r.Answer) != 1 {
			t.Fatalf("query %d with a valid cookie was limited: %v", i, r)
		}
	}
	var answered, slipped, dropped int
	var slipCookie string
	for range 60 {
		r := cookieExchangeWithin(t, "udp", "127.0.10.2", ts.addr, clientCookie, 150*time.Millisecond)
		switch {
		case r == nil:
			dropped++
		case r.Rcode == rcodeBadCookie && len(r.Answer) == 0 && !r.Truncated:
			slipped++
			slipCookie = cookieOf(r)
		case len(r.Answer) == 1:
			answered++
		}
	}
	if answered > 15 || dropped < 15 || slipped < 15 {
		t.Fatalf("client cookie flood: %d answered, %d slipped as BADCOOKIE, %d dropped", answered, slipped, dropped)
	}
	if r := cookieExchange(t, "udp", "127.0.10.2", ts.addr, slipCookie); r == nil || len(r.Answer) != 1 {
		t.Errorf("the slipped cookie %q is not answered: %v", slipCookie, r)
	}
}

// TestCookieDig: dig +cookie learns a cookie and, sending it back, is
// answered with a cookie dig calls good.
func TestCookieDig(t *testing.T) {
	ts := start(t, cookieConfig(t, "", ""), Options{})
	host, port, _ := net.SplitHostPort(ts.addr)
	dig := func(cookie string) string {
		out, err := exec.Command("dig", "@"+host, "-p", port, "+cookie"+cookie, "+nobadcookie", "www.lb.test.", "A").CombinedOutput()
		if err != nil {
			t.Fatalf("dig: %v\n%s", err, out)
		}
		return string(out)
	}
	first := dig("")
	m := regexp.MustCompile(`; COOKIE: ([0-9a-f]{48}) \(good\)`).FindStringSubmatch(first)
	if m == nil || !strings.Contains(first, "status: NOERROR") {
		t.Fatalf("dig +cookie:\n%s", first)
	}
	second := dig("=" + m[1])
	if !strings.Contains(second, "status: NOERROR") || !regexp.MustCompile(`; COOKIE: [0-9a-f]{48} \(good\)`).MatchString(second) || !strings.Contains(second, "192.0.2.80") {
		t.Fatalf("dig +cookie=%s:\n%s", m[1], second)
	}
}

// TestCookieMetrics: dnslb_cookies_total counts requests by their cookie,
// with no label but the result.
func TestCookieMetrics(t *testing.T) {
	ts := start(t, cookieConfig(t, `cookie_secret_file = "`+secretFile(t, cookieSecretA)+`"`, ""), Options{})
	first := cookieExchange(t, "tcp", "127.0.0.1", ts.addr, clientCookie)
	valid := cookieOf(first)
	if len(valid) != 48 {
		t.Fatalf("no server cookie: %v", first)
	}
	forged := valid[:32] + "0011223344556677"
	for cookie, n := range map[string]int{"": 2, clientCookie: 3, valid: 4, forged: 5} {
		for range n {
			if r := cookieExchange(t, "tcp", "127.0.0.1", ts.addr, cookie); r == nil {
				t.Fatalf("cookie %q: no response", cookie)
			}
		}
	}
	want := map[string]float64{"none": 2, "client_only": 1 + 3, "good": 4, "bad": 5}
	got := map[string]float64{}
	fams, err := ts.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "dnslb_cookies_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "result" {
				t.Fatalf("labels %v, want result alone", l)
			}
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("dnslb_cookies_total %v, want %v", got, want)
	}
}

// TestCookieRequired: with require_cookie, a UDP query gets its answer only
// with a valid server cookie: a client cookie alone or a bad one gets
// BADCOOKIE and a cookie to retry with, no cookie gets TC (retry over TCP),
// on the fast path and the general one; TCP is answered.
func TestCookieRequired(t *testing.T) {
	ts := start(t, cookieConfig(t, "require_cookie = true", ""), Options{})
	first := cookieExchange(t, "udp", "127.0.0.1", ts.addr, clientCookie)
	if first == nil || first.Rcode != rcodeBadCookie || len(first.Answer) != 0 || len(cookieOf(first)) != 48 {
		t.Fatalf("client cookie alone over UDP: %v", first)
	}
	valid := cookieOf(first)
	if r := cookieExchange(t, "udp", "127.0.0.1", ts.addr, valid); r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("retry with the server cookie: %v", r)
	}
	if r := cookieExchange(t, "udp", "127.0.10.1", ts.addr, valid); r == nil || r.Rcode != rcodeBadCookie || len(r.Answer) != 0 {
		t.Fatalf("another address's cookie: %v", r)
	}
	for _, netw := range transports {
		r := cookieExchange(t, netw, "127.0.0.1", ts.addr, "")
		if r == nil || r.Truncated != (netw == "udp") || (len(r.Answer) == 1) != (netw == "tcp") {
			t.Errorf("no cookie over %s: %v", netw, r)
		}
	}
	// A question of class CH without EDNS takes the general path.
	m := new(dns.Msg)
	m.SetQuestion("version.bind.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	for _, netw := range transports {
		c := &dns.Client{Net: netw, Timeout: 3 * time.Second}
		r, _, err := c.Exchange(m, ts.addr)
		if err != nil || r.Truncated != (netw == "udp") || r.Rcode != map[string]int{"udp": dns.RcodeSuccess, "tcp": dns.RcodeRefused}[netw] {
			t.Errorf("CH over %s: %v %v", netw, r, err)
		}
	}
}
