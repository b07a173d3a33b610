package health

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckValidate(t *testing.T) {
	valid := func(typ Type) Check {
		c := Check{Name: "web", Type: typ, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3}
		switch typ {
		case TypeTCP:
			c.Port = 8080
		case TypeDNS:
			c.DNSName = "www.example.com."
		}
		return c
	}
	tests := []struct {
		name    string
		typ     Type
		edit    func(*Check)
		wantErr string // "" = valid
	}{
		{"tcp", TypeTCP, nil, ""},
		{"http defaults", TypeHTTP, nil, ""},
		{"https with everything", TypeHTTPS, func(c *Check) {
			c.Path, c.Host, c.Expect, c.Body, c.LoadHeader = "/healthz?full=1", "www.example.com", []int{200, 204}, "ok", "X-Load"
		}, ""},
		{"dns", TypeDNS, nil, ""},
		{"none", TypeNone, nil, ""},
		{"no name", TypeTCP, func(c *Check) { c.Name = "" }, "no name"},
		{"unknown type", TypeTCP, func(c *Check) { c.Type = "icmp" }, `"icmp" is not a check type`},
		{"tcp without port", TypeTCP, func(c *Check) { c.Port = 0 }, "needs a port"},
		{"relative path", TypeHTTP, func(c *Check) { c.Path = "healthz" }, "must start with"},
		{"bad status", TypeHTTP, func(c *Check) { c.Expect = []int{200, 1000} }, "1000 is not an HTTP status"},
		{"bad load header", TypeHTTP, func(c *Check) { c.LoadHeader = "X Load" }, "not a header name"},
		{"dns without name", TypeDNS, func(c *Check) { c.DNSName = "" }, "needs the name"},
		{"dns bad name", TypeDNS, func(c *Check) { c.DNSName = "a..b" }, "not a domain name"},
		{"dns bad rcode", TypeDNS, func(c *Check) { c.DNSRcode = 5000 }, "out of range"},
		{"zero interval", TypeTCP, func(c *Check) { c.Interval = 0 }, "interval"},
		{"timeout over interval", TypeTCP, func(c *Check) { c.Timeout = 3 * time.Second }, "at most the interval"},
		{"zero rise", TypeTCP, func(c *Check) { c.Rise = 0 }, "rise"},
		{"zero fall", TypeTCP, func(c *Check) { c.Fall = 0 }, "fall"},
		{"rise over 100", TypeTCP, func(c *Check) { c.Rise = 101 }, "rise: 101: use 1-100"},
		{"interval under the floor", TypeTCP, func(c *Check) { c.Interval, c.Timeout = 50*time.Millisecond, 50*time.Millisecond }, "use at least 100ms"},
		{"fast interval over interval", TypeTCP, func(c *Check) { c.FastInterval = 3 * time.Second }, "fast_interval: 3s: use 100ms up to the interval"},
		{"path on a tcp check", TypeTCP, func(c *Check) { c.Path = "/" }, "path: only http and https checks use path"},
		{"qtype on an http check", TypeHTTP, func(c *Check) { c.DNSType = 28 }, "qtype: only dns checks use qtype"},
		{"no type", TypeTCP, func(c *Check) { c.Type = "" }, "type is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid(tt.typ)
			if tt.edit != nil {
				tt.edit(&c)
			}
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate accepted %+v", c)
			case err != nil && (!strings.HasPrefix(err.Error(), "health: ") || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate: %q, want the health: prefix and %q", err, tt.wantErr)
			}
		})
	}
}

// TestCheckValidateReportsEvery: Validate names every bad value, not just
// the first, each a *CheckError with the key a config file writes.
func TestCheckValidateReportsEvery(t *testing.T) {
	c := NewCheck("web", TypeHTTP)
	c.Rise, c.Fall, c.Expect = 0, 0, []int{200, 99}
	err := c.Validate()
	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *CheckError
		if !errors.As(e, &ce) {
			t.Fatalf("%v is not a *CheckError", e)
		}
		keys = append(keys, ce.Key)
	}
	if got := strings.Join(keys, " "); got != "expect[1] rise fall" {
		t.Errorf("keys %q, want \"expect[1] rise fall\"", got)
	}
}

// TestNewCheckDefaults: NewCheck is valid as it comes for every type but
// those that need a value (tcp: port; dns: name), and sets the documented
// defaults.
func TestNewCheckDefaults(t *testing.T) {
	for _, typ := range []Type{TypeHTTP, TypeHTTPS, TypeNone} {
		if err := NewCheck("c", typ).Validate(); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	c := NewCheck("c", TypeDNS)
	if c.Port != 53 || c.DNSType != 1 || c.Interval != 2*time.Second || c.Timeout != time.Second || c.Rise != 2 || c.Fall != 3 || !c.InitialUp {
		t.Errorf("dns defaults: %+v", c)
	}
	if c.fastInterval() != time.Second {
		t.Errorf("fast interval %v, want max(interval/2, timeout) = 1s", c.fastInterval())
	}
}

func TestCheckDefaults(t *testing.T) {
	for typ, port := range map[Type]uint16{TypeHTTP: 80, TypeHTTPS: 443, TypeDNS: 53, TypeTCP: 0} {
		c := Check{Type: typ}
		if c.port() != port {
			t.Errorf("%s: default port %d, want %d", typ, c.port(), port)
		}
	}
	c := Check{Type: TypeHTTP, Port: 8080}
	if c.port() != 8080 || c.path() != "/" || c.dnsType() != 1 {
		t.Errorf("port %d path %q dnsType %d", c.port(), c.path(), c.dnsType())
	}
}
