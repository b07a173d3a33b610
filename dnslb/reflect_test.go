package dnslb

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// reflector is a UDP service that answers every datagram it gets, as
// echo (RFC 862) and chargen (RFC 864) do, and counts them.
type reflector struct {
	conn *net.UDPConn
	got  atomic.Int64
}

// startReflector listens on addr; chargen answers a line of ASCII, echo
// the datagram itself. It stops with the test, and after 10,000 datagrams.
func startReflector(t *testing.T, addr string, chargen bool) *reflector {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatalf("listening on %s (the test runs as root, as make test does): %v", addr, err)
	}
	r := &reflector{conn: c}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 65535)
		line := []byte(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n")
		for r.got.Load() < 10000 {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			r.got.Add(1)
			out := buf[:n]
			if chargen {
				out = line
			}
			_, _ = c.WriteToUDPAddrPort(out, from)
		}
	}()
	return r
}

// TestNoReflection (issue 20 finding 5): a query from the port of a
// service that answers anything (echo, chargen) gets no response, and
// neither does text that is not DNS from any port: one datagram cannot
// start a ping-pong between dnslb and such a service.
func TestNoReflection(t *testing.T) {
	ts := start(t, confPath, Options{})
	dst := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ts.addr))
	query := packQuery(t, "www.example.", 1)
	for _, tc := range []struct {
		name    string
		addr    string // the service's address: 127.0.6.x is this branch's fixed range
		chargen bool
		send    []byte
	}{
		{"a query from echo's port", "127.0.6.1:7", false, query},
		{"a query from chargen's port", "127.0.6.1:19", true, query},
		{"a query from daytime's port", "127.0.6.1:13", true, query},
		{"a chargen line from chargen's port", "127.0.6.1:19", true, []byte("0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n")},
		{"a chargen line from any port", "127.0.6.2:0", true, []byte(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startReflector(t, tc.addr, tc.chargen)
			before := ts.scrapeStats().dropped
			if _, err := r.conn.WriteToUDP(tc.send, dst); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, 20*time.Second, "the datagram dropped", func() bool { return ts.scrapeStats().dropped > before })
			time.Sleep(300 * time.Millisecond) // room for a bounce, were there one
			if n := r.got.Load(); n != 0 {
				t.Errorf("the service got %d datagrams back", n)
			}
		})
	}
	// A resolver querying from port 53 is answered.
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.6.1:53")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteToUDP(query, dst); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, _, err := c.ReadFromUDP(make([]byte, 1232)); err != nil {
		t.Fatalf("a query from port 53: %v", err)
	}
}
