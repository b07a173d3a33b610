package health

import (
	"crypto/x509"
	"errors"
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

// Check is how to probe an address. NewCheck fills in every default; the
// probe-time helpers below fall back to the same defaults for a zero value,
// so a Check built by hand works too.
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
	Interval      time.Duration  // default 2s; at least MinInterval
	FastInterval  time.Duration  // while a result goes against the state; default (0) max(Interval/2, Timeout)
	Timeout       time.Duration  // default 1s, at most Interval
	Rise, Fall    int            // default 2 and 3 consecutive successes to come up, failures to go down; 1-100
	InitialUp     bool           // state of a new target before its probes decide; NewCheck: true
	RootCAs       *x509.CertPool // https: default nil = the system roots
}

// MinInterval is the shortest interval (and fast interval) Validate accepts.
const MinInterval = 100 * time.Millisecond

// NewCheck returns a check of type typ with every default set: the one
// place the defaults of a check are written.
func NewCheck(name string, typ Type) *Check {
	c := &Check{
		Name: name, Type: typ, Port: defaultPort(typ),
		Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3, InitialUp: true,
	}
	switch typ {
	case TypeHTTP, TypeHTTPS:
		c.Path = "/"
	case TypeDNS:
		c.DNSType = dns.TypeA
	}
	return c
}

func defaultPort(typ Type) uint16 {
	switch typ {
	case TypeHTTP:
		return 80
	case TypeHTTPS:
		return 443
	case TypeDNS:
		return 53
	}
	return 0
}

// CheckError is one value of a Check that cannot work. Key names the value
// as a config file writes it ("port", "expect[1]"; "" for the check as a
// whole), so that the config layer can say where it is.
type CheckError struct {
	Check string
	Key   string
	Msg   string // plain words: what is wrong and what would be valid
}

func (e *CheckError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("health: check %q: %s", e.Check, e.Msg)
	}
	return fmt.Sprintf("health: check %q: %s: %s", e.Check, e.Key, e.Msg)
}

// Validate reports every value of c that cannot work, each a *CheckError,
// joined.
func (c *Check) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("health: check has no name")
	}
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, &CheckError{Check: c.Name, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	switch c.Type {
	case TypeTCP:
		if c.Port == 0 {
			add("port", "a tcp check needs a port, e.g. port = 8080")
		}
	case TypeHTTP, TypeHTTPS:
		c.validateHTTP(add)
	case TypeDNS:
		if c.DNSName == "" {
			add("name", "a dns check needs the name to ask each member, e.g. name = \"www.example.com.\"")
		} else if _, ok := dns.IsDomainName(c.DNSName); !ok {
			add("name", "%q is not a domain name", c.DNSName)
		}
		if c.DNSRcode < 0 || c.DNSRcode > 0xFFF {
			add("rcode", "%d is out of range: use 0-4095", c.DNSRcode)
		}
	case TypeNone:
	case "":
		add("type", "type is required: tcp, http, https, dns or none")
	default:
		add("type", "%q is not a check type: use tcp, http, https, dns or none", c.Type)
	}
	c.validateUnused(add)
	if c.Interval < MinInterval {
		add("interval", "%v is too short: use at least %v", c.Interval, MinInterval)
	}
	if c.Timeout <= 0 || c.Timeout > c.Interval {
		add("timeout", "%v must be more than 0 and at most the interval (%v)", c.Timeout, c.Interval)
	}
	if c.FastInterval != 0 && (c.FastInterval < MinInterval || c.FastInterval > c.Interval) {
		add("fast_interval", "%v: use %v up to the interval (%v)", c.FastInterval, MinInterval, c.Interval)
	}
	if c.Rise < 1 || c.Rise > 100 {
		add("rise", "%d: use 1-100 consecutive successes", c.Rise)
	}
	if c.Fall < 1 || c.Fall > 100 {
		add("fall", "%d: use 1-100 consecutive failures", c.Fall)
	}
	return errors.Join(errs...)
}

func (c *Check) validateHTTP(add func(key, format string, args ...any)) {
	if c.Path != "" {
		if !strings.HasPrefix(c.Path, "/") {
			add("path", "%q must start with \"/\"", c.Path)
		} else if _, err := url.ParseRequestURI(c.Path); err != nil {
			add("path", "%q is not a request path, e.g. \"/healthz?full=1\"", c.Path)
		}
	}
	for i, s := range c.Expect {
		if s < 100 || s > 599 {
			add(fmt.Sprintf("expect[%d]", i), "%d is not an HTTP status: use 100-599", s)
		}
	}
	if strings.ContainsAny(c.LoadHeader, " \t\r\n:") {
		add("load_header", "%q is not a header name, e.g. \"X-Load\"", c.LoadHeader)
	}
}

// validateUnused refuses settings the check's type does not use: they are
// a mistake, not something to ignore.
func (c *Check) validateUnused(add func(key, format string, args ...any)) {
	if c.Type == "" {
		return
	}
	web := c.Type == TypeHTTP || c.Type == TypeHTTPS
	for _, u := range []struct {
		key  string
		set  bool
		used bool
		who  string
	}{
		{"path", c.Path != "", web, "http and https"},
		{"host", c.Host != "", web, "http and https"},
		{"expect", c.Expect != nil, web, "http and https"},
		{"body", c.Body != "", web, "http and https"},
		{"load_header", c.LoadHeader != "", web, "http and https"},
		{"tls_skip_verify", c.TLSSkipVerify, web, "http and https"},
		{"ca_file", c.RootCAs != nil, c.Type == TypeHTTPS, "https"},
		{"name", c.DNSName != "", c.Type == TypeDNS, "dns"},
		{"qtype", c.DNSType != 0, c.Type == TypeDNS, "dns"},
		{"rcode", c.DNSRcode != 0, c.Type == TypeDNS, "dns"},
	} {
		if u.set && !u.used {
			add(u.key, "only %s checks use %s", u.who, u.key)
		}
	}
}

func (c *Check) errorf(format string, args ...any) error {
	return fmt.Errorf("health: check %q: "+format, append([]any{c.Name}, args...)...)
}

// port is Port or the type's well-known port.
func (c *Check) port() uint16 {
	if c.Port != 0 {
		return c.Port
	}
	return defaultPort(c.Type)
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

// fastInterval is FastInterval, or max(interval/2, timeout) when unset; at
// most the interval.
func (c *Check) fastInterval() time.Duration {
	if c.FastInterval <= 0 {
		return min(max(c.interval()/2, c.timeout()), c.interval())
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
