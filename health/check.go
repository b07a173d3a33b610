package health

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Type names a kind of probe.
type Type string

// The probe types.
const (
	TypeTCP   Type = "tcp"   // a TCP connect succeeds
	TypeHTTP  Type = "http"  // a GET answers with an expected status (and body)
	TypeHTTPS Type = "https" // as http, over verified TLS
	TypeDNS   Type = "dns"   // a UDP query answers with the expected rcode
	TypeNone  Type = "none"  // always up; targets exist only to be listed
)

// Check is how to probe an address. Defaults for the schedule (Interval,
// Timeout, Rise, Fall, InitialUp) are the config layer's business; the
// per-type defaults below are applied at probe time, so a zero value means
// "the default".
type Check struct {
	Name          string         // required: with the address, the identity of a target
	Type          Type           // required: tcp | http | https | dns | none
	Port          uint16         // tcp: required; default http 80, https 443, dns 53
	Path          string         // http(s): default "/"; may carry a query
	Host          string         // http(s): Host header and TLS server name; default the address
	Expect        []int          // http(s): accepted statuses; default 200-399
	Body          string         // http(s): must appear in the first 64 KiB of the body; default not checked
	TLSSkipVerify bool           // https: default false (the certificate is verified)
	LoadHeader    string         // http(s): response header holding the target's load as a number; default none
	DNSName       string         // dns: required, the FQDN to query
	DNSType       uint16         // dns: default A
	DNSRcode      int            // dns: expected rcode; default 0 (NOERROR)
	Interval      time.Duration  // required: time between probes of one target
	FastInterval  time.Duration  // time between probes while a target is counting toward a change; default Interval
	Timeout       time.Duration  // required: bound of one probe, at most Interval
	Rise, Fall    int            // required: consecutive successes to come up, failures to go down
	InitialUp     bool           // state of a new target before its probes decide
	RootCAs       *x509.CertPool // https: default nil = the system roots
}

// Validate reports the first value of c that cannot work.
func (c *Check) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("health: check has no name")
	}
	switch c.Type {
	case TypeTCP:
		if c.Port == 0 {
			return c.errorf("a tcp check needs a port")
		}
	case TypeHTTP, TypeHTTPS:
		if err := c.validateHTTP(); err != nil {
			return err
		}
	case TypeDNS:
		if c.DNSName == "" {
			return c.errorf("a dns check needs a name to query")
		}
		if _, ok := dns.IsDomainName(c.DNSName); !ok {
			return c.errorf("%q is not a domain name", c.DNSName)
		}
		if c.DNSRcode < 0 || c.DNSRcode > 0xFFF {
			return c.errorf("rcode %d is out of range 0-4095", c.DNSRcode)
		}
	case TypeNone:
	default:
		return c.errorf("unknown type %q: use tcp, http, https, dns or none", c.Type)
	}
	switch {
	case c.Interval <= 0:
		return c.errorf("interval %v must be positive", c.Interval)
	case c.Timeout <= 0 || c.Timeout > c.Interval:
		return c.errorf("timeout %v must be positive and at most the interval (%v)", c.Timeout, c.Interval)
	case c.Rise < 1:
		return c.errorf("rise %d must be at least 1", c.Rise)
	case c.Fall < 1:
		return c.errorf("fall %d must be at least 1", c.Fall)
	}
	return nil
}

func (c *Check) validateHTTP() error {
	if c.Path != "" {
		if !strings.HasPrefix(c.Path, "/") {
			return c.errorf("path %q must start with \"/\"", c.Path)
		}
		if _, err := url.ParseRequestURI(c.Path); err != nil {
			return c.errorf("path %q: %w", c.Path, err)
		}
	}
	for _, s := range c.Expect {
		if s < 100 || s > 599 {
			return c.errorf("expected status %d is not an HTTP status", s)
		}
	}
	if strings.ContainsAny(c.LoadHeader, " \t\r\n:") {
		return c.errorf("load header %q is not a header name", c.LoadHeader)
	}
	return nil
}

func (c *Check) errorf(format string, args ...any) error {
	return fmt.Errorf("health: check %q: "+format, append([]any{c.Name}, args...)...)
}

// port is Port or the type's well-known port.
func (c *Check) port() uint16 {
	if c.Port != 0 {
		return c.Port
	}
	switch c.Type {
	case TypeHTTP:
		return 80
	case TypeHTTPS:
		return 443
	case TypeDNS:
		return 53
	}
	return 0
}

func (c *Check) path() string {
	if c.Path == "" {
		return "/"
	}
	return c.Path
}

func (c *Check) dnsType() uint16 {
	if c.DNSType == 0 {
		return dns.TypeA
	}
	return c.DNSType
}

// interval is Interval with a floor, so that a check that skipped Validate
// cannot make the scheduler spin.
func (c *Check) interval() time.Duration {
	return max(c.Interval, 10*time.Millisecond)
}

// fastInterval is FastInterval, or the interval when unset or longer.
func (c *Check) fastInterval() time.Duration {
	if c.FastInterval <= 0 {
		return c.interval()
	}
	return min(max(c.FastInterval, 10*time.Millisecond), c.interval())
}

// timeout is Timeout, or the interval when unset.
func (c *Check) timeout() time.Duration {
	if c.Timeout <= 0 {
		return c.interval()
	}
	return c.Timeout
}
