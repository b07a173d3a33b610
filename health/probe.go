package health

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Probe is the real ProbeFunc: it runs the probe of c.Type against addr,
// bounded by c.Timeout, from the address the system picks.
func Probe(ctx context.Context, c *Check, addr netip.Addr) Result {
	return probe(ctx, c, addr, netip.Addr{})
}

// ProbeFrom is Probe sending from src (when addr is of src's family): the
// instances of a cluster on one host, or a host with several addresses,
// each probe from their own.
func ProbeFrom(src netip.Addr) ProbeFunc {
	return func(ctx context.Context, c *Check, addr netip.Addr) Result {
		return probe(ctx, c, addr, src)
	}
}

// sourceFor is src when it can reach addr's family, else none.
func sourceFor(src, addr netip.Addr) netip.Addr {
	if src.IsValid() && src.Unmap().Is4() == addr.Unmap().Is4() {
		return src.Unmap()
	}
	return netip.Addr{}
}

func probe(ctx context.Context, c *Check, addr, src netip.Addr) Result {
	src = sourceFor(src, addr)
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	start := time.Now()
	var r Result
	switch c.Type {
	case TypeTCP:
		r = probeTCP(ctx, c, addr, src)
	case TypeHTTP, TypeHTTPS:
		r = probeHTTP(ctx, c, addr, src)
	case TypeDNS:
		r = probeDNS(ctx, c, addr, src)
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

func probeTCP(ctx context.Context, c *Check, addr, src netip.Addr) Result {
	conn, err := dial(ctx, hostPort(addr, c.port()), src)
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

func dial(ctx context.Context, hostport string, src netip.Addr) (net.Conn, error) {
	var d net.Dialer
	if src.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	return conn, nil
}
