package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// probeDNS asks addr for DNSName/DNSType over UDP; the target is up when the
// answer's rcode is DNSRcode, whatever the answer section holds.
func probeDNS(ctx context.Context, c *Check, addr, src netip.Addr) Result {
	hp := hostPort(addr, c.port())
	cl := dns.Client{Net: "udp", Timeout: c.timeout()}
	if src.IsValid() {
		cl.Dialer = &net.Dialer{LocalAddr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	}
	co, err := cl.DialContext(ctx, hp)
	if err != nil {
		return failure(ctx, phaseConnect, fmt.Errorf("health: dns %s: %w", hp, err))
	}
	defer co.Close()
	// miekg/dns obeys ctx's deadline but not its cancellation; closing the
	// socket makes a shutdown interrupt the read at once.
	stop := context.AfterFunc(ctx, func() { co.Close() })
	defer stop()

	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(c.DNSName), c.dnsType())
	in, _, err := cl.ExchangeWithConnContext(ctx, m, co)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, net.ErrClosed) {
			err = ctx.Err() // we closed the socket below it: say why
		}
		return failure(ctx, phaseExchange, fmt.Errorf("health: dns %s %s %s: %w", hp, m.Question[0].Name, dns.Type(c.dnsType()), err))
	}
	if in.Rcode != c.DNSRcode {
		return failed(ReasonRcode, fmt.Errorf("health: dns %s %s %s: rcode %s, want %s", hp, m.Question[0].Name,
			dns.Type(c.dnsType()), rcodeString(in.Rcode), rcodeString(c.DNSRcode)))
	}
	return Result{OK: true}
}

func rcodeString(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}
