package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// transferRuleTOML is one entry of a zone's transfer list: a TSIG key, or
// source prefixes, or both (then both must match).
type transferRuleTOML struct {
	Key       string   `toml:"key"`       // a [tsig.NAME]; default none
	Addresses []string `toml:"addresses"` // source prefixes or addresses; default any (with a key)
}

// TransferRule says who may transfer a zone (AXFR/IXFR): a request signed
// with Key (canonical; "" = no key needed) from one of Prefixes (empty =
// anywhere).
type TransferRule struct {
	Key      string
	Prefixes []netip.Prefix
}

// Allows reports whether a request from addr, signed (and verified) with
// key ("" when unsigned), may transfer under r.
func (r TransferRule) Allows(addr netip.Addr, key string) bool {
	if r.Key != "" && r.Key != key {
		return false
	}
	if len(r.Prefixes) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range r.Prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// DefaultNotifyInterval is the least time between two NOTIFY rounds of a
// zone whose pools change.
const DefaultNotifyInterval = time.Second

// buildTransfer checks zone t's transfer rules and notify targets.
func buildTransfer(t *zoneTOML, z *Zone, v *validator, c *Config) {
	for j, r := range t.Transfer {
		at := fmt.Sprintf("%s.transfer[%d]", z.At, j)
		rule := TransferRule{}
		if r.Key == "" && len(r.Addresses) == 0 {
			v.errorf(at, "give key = \"NAME\" (a [tsig.NAME]) and/or addresses = [\"192.0.2.0/24\"]")
			continue
		}
		if r.Key != "" {
			rule.Key = dns.CanonicalName(r.Key)
			if c.Keys.Key(r.Key) == nil {
				v.errorf(at+".key", "%q is not a [tsig.NAME] key%s", r.Key, keyHint(c))
			}
		}
		for k, a := range r.Addresses {
			p, err := parsePrefix(a)
			if err != nil {
				v.errorf(fmt.Sprintf("%s.addresses[%d]", at, k), "%q is not an address or prefix, e.g. \"192.0.2.0/24\" or \"2001:db8::53\"", a)
				continue
			}
			rule.Prefixes = append(rule.Prefixes, p)
		}
		z.Transfer = append(z.Transfer, rule)
	}
	for k, n := range t.Notify {
		ap, err := parseNotify(n)
		if err != nil {
			v.errorf(fmt.Sprintf("%s.notify[%d]", z.At, k), "%q is not an address with an optional port, e.g. \"192.0.2.53\" or \"[2001:db8::53]:5353\"", n)
			continue
		}
		z.Notify = append(z.Notify, ap)
	}
	z.NotifyInterval = v.positiveDuration(z.At+".notify_interval", t.NotifyInterval, DefaultNotifyInterval)
	if z.DNSSEC != nil && (len(t.Transfer) > 0 || len(t.Notify) > 0) {
		// Signatures are made per answer: a transfer would hand secondaries
		// an unsigned copy of a signed zone.
		v.errorf(z.At+".transfer", "a zone signed online ([zone.dnssec]) cannot be transferred yet: remove transfer and notify, or dnssec")
	}
	if len(z.Transfer) > 0 || len(z.Notify) > 0 {
		if z.File != "" {
			z.SerialFile = z.File + ".serial"
		} else {
			z.SerialFile = c.Path(strings.TrimSuffix(z.Origin, ".") + ".serial")
		}
	}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseNotify reads "addr", "addr:port" or "[v6]:port"; the port is 53
// when not given.
func parseNotify(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.AddrPortFrom(a, 53), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	return ap, nil
}
