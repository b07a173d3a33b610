package health

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// acceptAndClose serves ln by closing every connection at once.
func acceptAndClose(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// acceptAndHold serves ln by never answering, until the test ends.
func acceptAndHold(t *testing.T, ln net.Listener) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				<-done
				c.Close()
			}()
		}
	}()
}

// closedPort returns a 127.0.0.1 port nothing listens on: a TCP socket
// bound to it but not listening holds it until the test ends, so that
// connections are refused and no other socket (another test's, bound to
// port 0) can take it meanwhile, as it could a port merely closed.
func closedPort(t *testing.T) uint16 {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(sa.(*syscall.SockaddrInet4).Port)
}

func probeCheck(typ Type, port uint16) *Check {
	return &Check{Name: "t", Type: typ, Port: port, Interval: 10 * time.Second, Timeout: 5 * time.Second, Rise: 1, Fall: 1}
}

func TestProbeTCP(t *testing.T) {
	ln := listen127(t)
	acceptAndClose(ln)
	if r := Probe(context.Background(), probeCheck(TypeTCP, portOf(t, ln.Addr())), lo); !r.OK || r.Reason != "" || r.Err != nil || r.RTT <= 0 {
		t.Errorf("tcp to a listener: %+v", r)
	}
	r := Probe(context.Background(), probeCheck(TypeTCP, closedPort(t)), lo)
	if r.OK || r.Reason != ReasonRefused || r.Err == nil || !strings.HasPrefix(r.Err.Error(), "health: ") {
		t.Errorf("tcp to a closed port: %+v", r)
	}
}

func TestProbeNone(t *testing.T) {
	if r := Probe(context.Background(), &Check{Name: "n", Type: TypeNone, Timeout: time.Second}, addr1); !r.OK {
		t.Errorf("none: %+v", r)
	}
}

func TestProbeUnknownType(t *testing.T) {
	r := Probe(context.Background(), &Check{Name: "n", Type: "icmp", Timeout: time.Second}, lo)
	if r.OK || r.Reason != ReasonError {
		t.Errorf("unknown type: %+v", r)
	}
}

func TestProbeCancelled(t *testing.T) {
	ln := listen127(t)
	acceptAndHold(t, ln)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := probeCheck(TypeHTTP, portOf(t, ln.Addr()))
	if r := Probe(ctx, c, lo); r.OK {
		t.Errorf("a cancelled probe succeeded: %+v", r)
	}
}

func TestHostPortIPv6(t *testing.T) {
	tests := []struct {
		addr string
		want string
	}{
		{"192.0.2.1", "192.0.2.1:80"},
		{"2001:db8::1", "[2001:db8::1]:80"},
		{"fe80::1%eth0", "[fe80::1%eth0]:80"},
	}
	for _, tt := range tests {
		if got := hostPort(netip.MustParseAddr(tt.addr), 80); got != tt.want {
			t.Errorf("hostPort(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// TestRequestIPv6 checks the request a probe of an IPv6 address would send,
// without sending it: tests dial 127.0.0.1 only.
func TestRequestIPv6(t *testing.T) {
	c := &Check{Name: "web", Type: TypeHTTP, Port: 8080, Path: "/healthz?full=1"}
	req, err := newRequest(context.Background(), c, hostPort(addr6, c.port()))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	w := bufio.NewWriter(&b)
	if err := req.Write(w); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	for _, want := range []string{"GET /healthz?full=1 HTTP/1.1\r\n", "Host: [2001:db8::1]:8080\r\n", "Connection: close\r\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("request lacks %q:\n%s", want, b.String())
		}
	}
	if cfg := tlsConfig(&Check{}, addr6); cfg.ServerName != "2001:db8::1" {
		t.Errorf("ServerName for %s = %q", addr6, cfg.ServerName)
	}
	if cfg := tlsConfig(&Check{Host: "www.example.com:8443"}, addr6); cfg.ServerName != "www.example.com" {
		t.Errorf("ServerName for a Host with a port = %q", cfg.ServerName)
	}
}
