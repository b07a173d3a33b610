package health

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Probe is the real ProbeFunc: it runs the probe of c.Type against addr,
// bounded by c.Timeout.
func Probe(ctx context.Context, c *Check, addr netip.Addr) Result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	start := time.Now()
	var r Result
	switch c.Type {
	case TypeTCP:
		r = probeTCP(ctx, c, addr)
	case TypeHTTP, TypeHTTPS:
		r = probeHTTP(ctx, c, addr)
	case TypeDNS:
		r = probeDNS(ctx, c, addr)
	case TypeNone:
		r = Result{OK: true}
	default:
		r = failed(ReasonError, c.errorf("unknown type %q", c.Type))
	}
	r.RTT = time.Since(start)
	return r
}

// hostPort is addr:port, bracketed for IPv6 ("[2001:db8::1]:80").
func hostPort(addr netip.Addr, port uint16) string {
	return netip.AddrPortFrom(addr, port).String()
}

func probeTCP(ctx context.Context, c *Check, addr netip.Addr) Result {
	conn, err := dial(ctx, hostPort(addr, c.port()))
	if err != nil {
		return failure(ctx, phaseConnect, err)
	}
	// A reset rather than a FIN: the prober would otherwise keep one
	// TIME_WAIT socket per probe for a minute, and at thousands of probes a
	// second that exhausts the ephemeral ports (HAProxy does the same).
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
	return Result{OK: true}
}

func dial(ctx context.Context, hostport string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	return conn, nil
}
