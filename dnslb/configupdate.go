package dnslb

import (
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/tsig"
	"github.com/dnslb/dnslb/dnslb/update"
)

// TSIGConfig is one [tsig.NAME]: a key for signed updates (RFC 8945). The
// key's name on the wire is NAME, made fully qualified.
type TSIGConfig struct {
	Algorithm  string `toml:"algorithm"`   // default "hmac-sha256"; or hmac-sha384, hmac-sha512, hmac-sha1
	SecretFile string `toml:"secret_file"` // required: base64 secret on its first line (dnslb -tsig-keygen NAME makes one)
}

// UpdateRuleConfig is one entry of a zone's update list.
type UpdateRuleConfig struct {
	Key   string   `toml:"key"`   // required: a [tsig.NAME]
	Names []string `toml:"names"` // required: names it may change; "*" as a label matches one or more labels
	Types []string `toml:"types"` // required: record types it may change, e.g. ["TXT"]
}

func (c *Config) validateTSIG(v *validator) {
	names := make([]string, 0, len(c.TSIG))
	for n := range c.TSIG {
		names = append(names, n)
	}
	sort.Strings(names)
	var keys []*tsig.Key
	for _, n := range names {
		tc := c.TSIG[n]
		at := "tsig." + n
		if tc.SecretFile == "" {
			v.errorf(at, "secret_file is required: a file whose first line is the base64 secret (make one with dnslb -tsig-keygen %s)", n)
			continue
		}
		secret, err := tsig.ReadSecret(c.path(tc.SecretFile))
		if err != nil {
			v.errorf(at+".secret_file", "%v", err)
			continue
		}
		k, err := tsig.NewKey(n, tc.Algorithm, secret)
		if err != nil {
			field := ".secret_file"
			if strings.HasPrefix(err.Error(), "algorithm") {
				field = ".algorithm"
			}
			v.errorf(at+field, "%v", err)
			continue
		}
		keys = append(keys, k)
	}
	kr, err := tsig.NewKeyring(keys...)
	if err != nil {
		v.errorf("tsig", "%v", err) // names differing only in case
		return
	}
	c.keyring = kr
}

func (c *Config) validateUpdates(v *validator) {
	for i := range c.Zones {
		z := &c.Zones[i]
		if len(z.Update) == 0 {
			if z.Journal != "" {
				v.errorf(fmt.Sprintf("zone[%d].journal", i), "the zone takes no updates: add update = [...] or remove journal")
			}
			continue
		}
		origin := dns.CanonicalName(z.Origin)
		for j, r := range z.Update {
			at := fmt.Sprintf("zone[%d].update[%d]", i, j)
			rule := update.Rule{Key: dns.CanonicalName(r.Key)}
			switch {
			case r.Key == "":
				v.errorf(at, "key is required: the name of a [tsig.NAME]")
			case c.keyring.Key(r.Key) == nil:
				v.errorf(at+".key", "%q is not a [tsig.NAME] key%s", r.Key, keyHint(c))
			}
			if len(r.Names) == 0 {
				v.errorf(at, "names is required, e.g. names = [\"_acme-challenge.%s\", \"_acme-challenge.*.%s\"]", origin, origin)
			}
			for k, n := range r.Names {
				p := dns.CanonicalName(n)
				if err := update.CheckPattern(p, origin); err != nil {
					v.errorf(fmt.Sprintf("%s.names[%d]", at, k), "%v", err)
					continue
				}
				rule.Names = append(rule.Names, p)
			}
			if len(r.Types) == 0 {
				v.errorf(at, "types is required, e.g. types = [\"TXT\"]")
			}
			for k, t := range r.Types {
				typ, ok := dns.StringToType[strings.ToUpper(t)]
				if !ok || typ == dns.TypeANY || typ == dns.TypeOPT || typ == dns.TypeTSIG || typ == dns.TypeAXFR || typ == dns.TypeIXFR {
					v.errorf(fmt.Sprintf("%s.types[%d]", at, k), "%q is not a record type, e.g. \"TXT\" or \"A\"", t)
					continue
				}
				rule.Types = append(rule.Types, typ)
			}
			z.policy = append(z.policy, rule)
		}
		switch {
		case z.Journal != "":
			z.journal = c.path(z.Journal)
		case z.File != "":
			z.journal = c.path(z.File) + ".jnl"
		default:
			z.journal = c.path(strings.TrimSuffix(origin, ".") + ".jnl")
		}
	}
}

func keyHint(c *Config) string {
	if len(c.TSIG) == 0 {
		return ": define it, e.g. [tsig.acme] with secret_file"
	}
	var ns []string
	for n := range c.TSIG {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return " (defined: " + strings.Join(ns, ", ") + ")"
}
