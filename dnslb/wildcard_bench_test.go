//go:build linux

package dnslb

import (
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// BenchmarkUDPListen compares a listener on a specific address with one on
// the wildcard (packet info received and sent back with every reply), over
// real loopback sockets: bursts of 32 queries, then their replies.
func BenchmarkUDPListen(b *testing.B) {
	for _, tc := range []struct{ name, listen, dst string }{
		{"specific", "127.0.1.9:0", "127.0.1.9"},
		{"wildcard", "0.0.0.0:0", "127.0.1.9"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := testutil.WriteFiles(b, map[string]string{"dnslb.toml": `[server]
listen = ["` + tc.listen + `"]
http = ""
workers = 1
[[zone]]
origin = "example."
records = ["@ 60 IN SOA ns1 hm 1 2 3 4 5", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
`})
			ts := start(b, filepath.Join(dir, "dnslb.toml"), Options{Logger: discardLogger})
			dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(tc.dst), ts.DNSAddrs()[0].Port()))
			c, err := net.DialUDP("udp", nil, dst)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			m := new(dns.Msg)
			m.SetQuestion("ns1.example.", dns.TypeA)
			q, _ := m.Pack()
			buf := make([]byte, 1500)
			const burst = 32
			b.ResetTimer()
			for sent := 0; sent < b.N; sent += burst {
				for range burst {
					if _, err := c.Write(q); err != nil {
						b.Fatal(err)
					}
				}
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				for range burst {
					if _, err := c.Read(buf); err != nil {
						b.Fatal(err) // a connected socket drops replies from another source
					}
				}
			}
		})
	}
}
