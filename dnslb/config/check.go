package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/health"
)

// checkTOML is one [check.NAME]. Defaults are health.NewCheck's.
type checkTOML struct {
	Type          string   `toml:"type"`            // required: tcp | http | https | dns | none
	Port          *int     `toml:"port"`            // tcp: required; http 80, https 443, dns 53
	Path          string   `toml:"path"`            // http(s): default "/"
	Host          string   `toml:"host"`            // http(s): Host header and TLS server name
	Expect        []int    `toml:"expect"`          // http(s): accepted statuses, default 200-399
	Body          string   `toml:"body"`            // http(s): must appear in the first 64 KiB of the body
	TLSSkipVerify bool     `toml:"tls_skip_verify"` // https: default false (certificates are verified)
	CAFile        string   `toml:"ca_file"`         // https: PEM roots to verify with, default the system's
	LoadHeader    string   `toml:"load_header"`     // http(s): header with the member's load (least_load)
	Name          string   `toml:"name"`            // dns: required, the name to query
	QType         string   `toml:"qtype"`           // dns: default "A"
	Rcode         string   `toml:"rcode"`           // dns: expected rcode, default "NOERROR"
	Interval      duration `toml:"interval"`        // default 2s
	FastInterval  duration `toml:"fast_interval"`   // default max(interval/2, timeout): while a result goes against the state
	Timeout       duration `toml:"timeout"`         // default 1s, at most interval
	Rise          *int     `toml:"rise"`            // default 2 consecutive successes to come up
	Fall          *int     `toml:"fall"`            // default 3 consecutive failures to go down
	Initial       string   `toml:"initial"`         // default "up": state before the first probes decide
}

// buildChecks turns each [check.NAME] into a health.Check, which health
// itself validates: the rules of a check live in one place.
func buildChecks(ts map[string]*checkTOML, v *validator, c *Config) map[string]*health.Check {
	out := make(map[string]*health.Check, len(ts))
	for _, name := range sortedKeys(ts) {
		if hc := ts[name].build(v, c, name); hc != nil {
			out[name] = hc
		}
	}
	return out
}

// build returns nil when the check is not valid.
func (t *checkTOML) build(v *validator, c *Config, name string) *health.Check {
	at := "check." + name
	before := len(v.errs)
	hc := health.NewCheck(name, health.Type(t.Type))
	if t.Port != nil {
		if *t.Port < 1 || *t.Port > 65535 {
			v.errorf(at+".port", "%d is not a port: use 1-65535", *t.Port)
		} else {
			hc.Port = uint16(*t.Port)
		}
	}
	if t.Path != "" {
		hc.Path = t.Path
	}
	hc.Host, hc.Expect, hc.Body, hc.TLSSkipVerify, hc.LoadHeader = t.Host, t.Expect, t.Body, t.TLSSkipVerify, t.LoadHeader
	switch {
	case t.CAFile != "" && t.Type != string(health.TypeHTTPS):
		hc.RootCAs = x509.NewCertPool() // health refuses it on this type
	case t.CAFile != "":
		if pool, err := loadCAFile(c.Path(t.CAFile)); err != nil {
			v.errorf(at+".ca_file", "%v", err)
		} else {
			hc.RootCAs = pool
		}
	}
	if t.Name != "" {
		hc.DNSName = dns.Fqdn(t.Name)
	}
	if t.QType != "" {
		if typ, ok := dns.StringToType[strings.ToUpper(t.QType)]; ok {
			hc.DNSType = typ
		} else {
			v.errorf(at+".qtype", "%q is not a DNS type: use e.g. \"A\", \"AAAA\", \"SOA\"", t.QType)
		}
	}
	if t.Rcode != "" {
		if r, ok := dns.StringToRcode[strings.ToUpper(t.Rcode)]; ok {
			hc.DNSRcode = r
		} else {
			v.errorf(at+".rcode", "%q is not an rcode: use e.g. \"NOERROR\", \"NXDOMAIN\", \"REFUSED\"", t.Rcode)
		}
		if t.Type != string(health.TypeDNS) && hc.DNSRcode == 0 {
			// NOERROR is the zero value, which health cannot tell from unset.
			v.errorf(at+".rcode", "only dns checks use rcode")
		}
	}
	hc.Interval = v.duration(at+".interval", t.Interval, hc.Interval)
	hc.Timeout = v.duration(at+".timeout", t.Timeout, hc.Timeout)
	hc.FastInterval = v.duration(at+".fast_interval", t.FastInterval, 0)
	if t.Rise != nil {
		hc.Rise = *t.Rise
	}
	if t.Fall != nil {
		hc.Fall = *t.Fall
	}
	switch t.Initial {
	case "", "up":
	case "down":
		hc.InitialUp = false
	default:
		v.errorf(at+".initial", "%q: use \"up\" or \"down\"", t.Initial)
	}
	for _, err := range unjoin(hc.Validate()) {
		var ce *health.CheckError
		if errors.As(err, &ce) {
			v.errorf(strings.TrimSuffix(at+"."+ce.Key, "."), "%s", ce.Msg)
		} else {
			v.errorf(at, "%v", err)
		}
	}
	if len(v.errs) > before {
		return nil
	}
	return hc
}

// unjoin returns the errors errors.Join joined, or err alone.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// loadCAFile reads PEM certificates to verify https checks with: a
// regular file of at most 1 MiB (a device named by mistake must not hang
// or exhaust the server).
func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := readSmallFile(path, 1<<20)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// checkHint lists the defined checks for an error about a missing one.
func checkHint(checks map[string]*checkTOML) string {
	if len(checks) == 0 {
		return ": add a [check.NAME] table or remove the reference"
	}
	return " (defined: " + strings.Join(sortedKeys(checks), ", ") + ")"
}
