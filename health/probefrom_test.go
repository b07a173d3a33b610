package health

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestProbeFrom: probes leave from the given source, over TCP, HTTP and DNS.
func TestProbeFrom(t *testing.T) {
	src := netip.MustParseAddr("127.0.1.7")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	seen := make(chan netip.Addr, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			seen <- c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
			c.Close()
		}
	}()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ds := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		seen <- w.RemoteAddr().(*net.UDPAddr).AddrPort().Addr()
		m := new(dns.Msg)
		m.SetReply(r)
		w.WriteMsg(m)
	})}
	go ds.ActivateAndServe()
	defer ds.Shutdown()
	dport := uint16(pc.LocalAddr().(*net.UDPAddr).Port)

	lo := netip.MustParseAddr("127.0.0.1")
	for _, c := range []*Check{
		{Name: "t", Type: TypeTCP, Port: port, Timeout: 10 * time.Second},
		{Name: "h", Type: TypeHTTP, Port: port, Path: "/", Expect: []int{200}, Timeout: 10 * time.Second},
		{Name: "d", Type: TypeDNS, Port: dport, DNSName: "x.", Timeout: 10 * time.Second},
	} {
		r := ProbeFrom(src)(context.Background(), c, lo)
		if !r.OK {
			t.Fatalf("%s probe: %+v", c.Type, r)
		}
		if got := <-seen; got != src {
			t.Errorf("%s probe came from %v, want %v", c.Type, got, src)
		}
	}
	// An IPv6 target is probed from the system's choice, not an IPv4 source.
	if got := sourceFor(src, netip.MustParseAddr("::1")); got.IsValid() {
		t.Errorf("sourceFor(IPv4, IPv6 target) = %v", got)
	}
}
