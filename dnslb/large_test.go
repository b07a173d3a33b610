package dnslb

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// largeZone is a zone with A RRsets of 1, 100, 1,000 and 4,000 records at
// n1, n100, n1000 and n4000.
func largeZone(sizes ...int) string {
	var b strings.Builder
	b.WriteString("$ORIGIN big.test.\n@ 300 IN SOA ns1 hm 1 3600 600 604800 60\n@ 300 IN NS ns1\nns1 300 IN A 192.0.2.1\n")
	for _, n := range sizes {
		for i := range n {
			fmt.Fprintf(&b, "n%d 300 IN A 10.%d.%d.%d\n", n, i>>16&0xff, i>>8&0xff, i&0xff)
		}
	}
	return b.String()
}

var largeSizes = []int{1, 100, 1000, 4000}

// BenchmarkLargeRRset measures the query path without sockets for A
// RRsets of growing size, over UDP (a 1232-byte limit: TC from 100
// records on) and over TCP (the whole RRset).
func BenchmarkLargeRRset(b *testing.B) {
	dir := testutil.WriteFiles(b, map[string]string{
		"dnslb.toml": "[server]\nlisten = [\"127.0.0.1:0\"]\nhttp = \"\"\n[[zone]]\norigin = \"big.test.\"\nfile = \"big.zone\"\n",
		"big.zone":   largeZone(largeSizes...),
	})
	srv, err := New(dir+"/dnslb.toml", Options{Logger: discardLogger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.closeListeners)
	for _, tcp := range []bool{false, true} {
		for _, n := range largeSizes {
			b.Run(fmt.Sprintf("%s/%d", map[bool]string{false: "udp", true: "tcp"}[tcp], n), func(b *testing.B) {
				benchQuery(b, srv, tcp, fmt.Sprintf("n%d.big.test.", n), dns.TypeA, 1232, false)
			})
		}
	}
}

// TestLargeAnswers: the largest pool the config accepts and a 4,000-record
// RRset are answered whole over TCP, even with an IPv6 client subnet in the
// query, and truncated over UDP.
func TestLargeAnswers(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"dnslb.toml": "[server]\nlisten = [\"127.0.0.1:0\"]\nhttp = \"\"\n[[zone]]\norigin = \"big.test.\"\nfile = \"big.zone\"\n" +
			manyMembers("www.big.test.", "", 4091, 0),
		"big.zone": largeZone(4000),
	})
	ts := start(t, dir+"/dnslb.toml", Options{})
	for _, tc := range []struct {
		name string
		n    int
	}{{"www.big.test.", 4091}, {"n4000.big.test.", 4000}} {
		for _, netw := range transports {
			m := new(dns.Msg)
			m.SetQuestion(tc.name, dns.TypeA)
			m.SetEdns0(1232, false)
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 2, SourceNetmask: 128, Address: net.ParseIP("2001:db8::1")})
			for range 2 { // the general path, then the cache
				r := ts.exchange(t, netw, m)
				if netw == "udp" && (!r.Truncated || len(r.Answer) != 0) || netw == "tcp" && (r.Truncated || len(r.Answer) != tc.n) {
					t.Fatalf("%s %s: TC %v, %d records", netw, tc.name, r.Truncated, len(r.Answer))
				}
			}
		}
	}
}
