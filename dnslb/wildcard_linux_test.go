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

// TestWildcardListenRepliesFromQueriedAddress: on 0.0.0.0 and [::] every
// reply leaves from the address its query was sent to (IP_PKTINFO,
// IPV6_RECVPKTINFO), over the batched UDP path, as NSD and Knot do; TCP
// answers on any address too.
func TestWildcardListenRepliesFromQueriedAddress(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": `[server]
listen = ["0.0.0.0:0", "[::]:0"]
http = ""
workers = 2
[[zone]]
origin = "example."
records = ["@ 60 IN SOA ns1 hm 1 2 3 4 5", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
`})
	ts := start(t, filepath.Join(dir, "dnslb.toml"), Options{})
	ports := map[bool]uint16{}
	for _, a := range ts.DNSAddrs() {
		if !a.Addr().IsUnspecified() {
			t.Fatalf("bound %v, want wildcards", a)
		}
		ports[a.Addr().Unmap().Is4()] = a.Port()
	}
	tests := []struct {
		client string // the client's own address
		to     []string
	}{
		// 127.0.1.9 and .10 are not the address a reply to 127.0.0.1
		// would get by route: a kernel-chosen source fails this.
		{"127.0.0.1", []string{"127.0.1.9", "127.0.1.10", "127.0.0.1"}},
		{"::1", []string{"::1"}},
	}
	for _, tt := range tests {
		client := netip.MustParseAddr(tt.client)
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(client, 0)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A burst, so that the batched read returns several datagrams for
		// several destinations at once.
		want := map[uint16]netip.AddrPort{}
		for i := range 30 {
			dst := netip.AddrPortFrom(netip.MustParseAddr(tt.to[i%len(tt.to)]), ports[client.Is4()])
			m := new(dns.Msg)
			m.SetQuestion("ns1.example.", dns.TypeA)
			m.Id = uint16(1000 + i)
			b, _ := m.Pack()
			if _, err := c.WriteToUDPAddrPort(b, dst); err != nil {
				t.Fatal(err)
			}
			want[m.Id] = dst
		}
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 1500)
		for len(want) > 0 {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("client %s: %v; %d replies missing", tt.client, err, len(want))
			}
			r := new(dns.Msg)
			if err := r.Unpack(buf[:n]); err != nil {
				t.Fatal(err)
			}
			dst, ok := want[r.Id]
			if !ok {
				t.Fatalf("unexpected reply id %d", r.Id)
			}
			delete(want, r.Id)
			if from.Addr().Unmap() != dst.Addr() || from.Port() != dst.Port() {
				t.Errorf("query to %v answered from %v", dst, from)
			}
			if len(r.Answer) != 1 {
				t.Errorf("query to %v: answer %v", dst, r.Answer)
			}
		}
	}
	tc := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion("ns1.example.", dns.TypeA)
	if r, _, err := tc.Exchange(m, netip.AddrPortFrom(netip.MustParseAddr("127.0.1.9"), ports[true]).String()); err != nil || len(r.Answer) != 1 {
		t.Fatalf("TCP on the wildcard: %v %v", r, err)
	}
}
