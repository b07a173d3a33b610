package dnslb

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// TestTransferIXFROverUDP: IXFR over UDP (RFC 1995 §2) gets the IXFR
// answer when it fits the client's size, else the SOA alone (ask again
// over TCP), and never the whole zone; the transfer rules and TSIG apply
// as over TCP. Judged with the miekg/dns client and with kdig.
func TestTransferIXFROverUDP(t *testing.T) {
	var big strings.Builder
	for i := range 40 {
		fmt.Fprintf(&big, "{ address = \"192.0.2.%d\" }, ", 100+i)
	}
	cfg := xfrConfig("", 0) + `
[[pool]]
name = "big.lb.test."
ttl = 30
check = "web"
members = [` + big.String() + `]
`
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": cfg, "xfr.key": xfrSecret + "\n"})
	probe := newFakeProbe()
	ts := start(t, dir+"/dnslb.toml", Options{Probe: probe.probe})
	checkAll := func() {
		for _, tg := range ts.prober.Targets() {
			ts.prober.CheckNow(context.Background(), tg)
		}
	}
	checkAll()
	testutil.WaitFor(t, 10*time.Second, "a first serial published", func() bool { return ts.xfr.published("lb.test.") != nil })
	s1 := soaSerial(t, ts)
	for i := range 39 { // a large difference: 39 records, over 512 bytes (one left up: not all down)
		probe.set(fmt.Sprintf("192.0.2.%d", 100+i), fakeFigures{down: true})
	}
	checkAll()
	testutil.WaitFor(t, 10*time.Second, "a second serial", func() bool { return soaSerial(t, ts) != s1 })
	s2 := soaSerial(t, ts)
	probe.set("192.0.2.11", fakeFigures{down: true}) // a small one: 1 record
	checkAll()
	testutil.WaitFor(t, 10*time.Second, "a third serial", func() bool { return soaSerial(t, ts) != s2 })
	s3 := soaSerial(t, ts)

	soa := func(n uint32) string {
		return fmt.Sprintf("lb.test. 300 IN SOA ns1.lb.test. hostmaster.lb.test. %d 3600 600 604800 60", n)
	}
	soaAlone := []string{soa(s3)}
	small := []string{soa(s3), soa(s2), "www.lb.test. 30 IN A 192.0.2.11", soa(s3), soa(s3)}
	for _, tc := range []struct {
		name    string
		from    string // local address
		key     string // secret of key xfr., "" unsigned
		serial  uint32
		edns    uint16 // 0: none (512 bytes)
		rcode   int
		answers int      // records in the answer
		want    []string // the answer, when checked whole
	}{
		{name: "small difference, signed", key: xfrSecret, serial: s2, rcode: dns.RcodeSuccess, want: small},
		{name: "up to date", key: xfrSecret, serial: s3, rcode: dns.RcodeSuccess, want: soaAlone},
		{name: "too large for 512 bytes", key: xfrSecret, serial: s1, rcode: dns.RcodeSuccess, want: soaAlone},
		{name: "fits 4096 bytes", key: xfrSecret, serial: s1, edns: 4096, rcode: dns.RcodeSuccess, answers: 1 + 40 + 1 + 2 + 1 + 1},
		{name: "serial not in history: no whole zone", key: xfrSecret, serial: s1 - 5, edns: 4096, rcode: dns.RcodeSuccess, want: soaAlone},
		{name: "unsigned from an address a rule names", from: "127.0.8.2", serial: s2, rcode: dns.RcodeSuccess, want: small},
		{name: "unsigned from elsewhere", serial: s2, edns: 4096, rcode: dns.RcodeRefused},
		{name: "wrong key", key: otherSecret, serial: s2, edns: 4096, rcode: dns.RcodeNotAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetIxfr("lb.test.", tc.serial, "ns1.lb.test.", "hostmaster.lb.test.")
			if tc.edns > 0 {
				m.SetEdns0(tc.edns, false)
			}
			c := &dns.Client{Net: "udp", Timeout: 3 * time.Second, UDPSize: 65535}
			if tc.from != "" {
				c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(tc.from)}, Timeout: 3 * time.Second}
			}
			if tc.key != "" {
				m.SetTsig("xfr.", dns.HmacSHA256, 300, time.Now().Unix())
				c.TsigSecret = map[string]string{"xfr.": tc.key}
			}
			r, _, err := c.Exchange(m, ts.addr) // verifies the answer's TSIG when signed
			if err != nil && !(tc.rcode == dns.RcodeNotAuth && r != nil) {
				t.Fatal(err)
			}
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if r.Truncated {
				t.Error("TC set: the SOA alone says 'use TCP'")
			}
			if tc.want != nil {
				if got := rrStrings(r.Answer); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
					t.Errorf("answer\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
			}
			if tc.answers > 0 && len(r.Answer) != tc.answers {
				t.Errorf("%d records in the answer, want %d:\n%s", len(r.Answer), tc.answers, strings.Join(rrStrings(r.Answer), "\n"))
			}
		})
	}
	if n := promtest.ToFloat64(ts.metrics.transfers.WithLabelValues("ixfr", "tcp")); n != 2 {
		t.Errorf("UDP IXFR answered with the SOA alone counted %v times, want 2", n)
	}

	// kdig over UDP: the difference it prints is the one TCP gives.
	_, port, _ := net.SplitHostPort(ts.addr)
	out, err := exec.Command("kdig", "@127.0.0.1", "-p", port, "+notcp", "+bufsize=4096", "-y", "hmac-sha256:xfr.:"+xfrSecret, "-t", fmt.Sprintf("IXFR=%d", s1), "lb.test.").CombinedOutput()
	if err != nil {
		t.Fatalf("kdig: %v\n%s", err, out)
	}
	tcp, err := xfrClient(ts.addr, "lb.test.", "", xfrSecret, s1)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range tcp {
		if f := strings.Fields(rr.String()); !strings.Contains(string(out), f[len(f)-1]) {
			t.Fatalf("kdig over UDP lacks %q of the TCP IXFR:\n%s", rr.String(), out)
		}
	}
	if !strings.Contains(string(out), "UDP") || !strings.Contains(string(out), "NOERROR") {
		t.Fatalf("kdig did not get the answer over UDP:\n%s", out)
	}
}
