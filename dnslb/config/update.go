package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/update"
)

// updateRuleTOML is one entry of a zone's update list.
type updateRuleTOML struct {
	Key   string   `toml:"key"`   // required: a [tsig.NAME]
	Names []string `toml:"names"` // required: names it may change; "*" as a label matches one or more labels
	Types []string `toml:"types"` // required: record types it may change, e.g. ["TXT"]
}

// buildUpdates checks zone t's update rules and journal (z is the zone
// being built) against the keys in c.
func buildUpdates(t *zoneTOML, z *Zone, v *validator, c *Config) {
	if len(t.Update) == 0 {
		if t.Journal != "" {
			v.errorf(z.At+".journal", "the zone takes no updates: add update = [...] or remove journal")
		}
		return
	}
	for j, r := range t.Update {
		at := fmt.Sprintf("%s.update[%d]", z.At, j)
		rule := update.Rule{Key: dns.CanonicalName(r.Key)}
		switch {
		case r.Key == "":
			v.errorf(at, "key is required: the name of a [tsig.NAME]")
		case c.Keys.Key(r.Key) == nil:
			v.errorf(at+".key", "%q is not a [tsig.NAME] key%s", r.Key, keyHint(c))
		}
		if len(r.Names) == 0 {
			v.errorf(at, "names is required, e.g. names = [\"_acme-challenge.%s\", \"_acme-challenge.*.%s\"]", z.Origin, z.Origin)
		}
		for k, n := range r.Names {
			p := dns.CanonicalName(n)
			if err := update.CheckPattern(p, z.Origin); err != nil {
				v.errorf(fmt.Sprintf("%s.names[%d]", at, k), "%v", err)
				continue
			}
			rule.Names = append(rule.Names, p)
		}
		if len(r.Types) == 0 {
			v.errorf(at, "types is required, e.g. types = [\"TXT\"]")
		}
		for k, ty := range r.Types {
			typ, ok := dns.StringToType[strings.ToUpper(ty)]
			if !ok || typ == dns.TypeANY || typ == dns.TypeOPT || typ == dns.TypeTSIG || typ == dns.TypeAXFR || typ == dns.TypeIXFR {
				v.errorf(fmt.Sprintf("%s.types[%d]", at, k), "%q is not a record type, e.g. \"TXT\" or \"A\"", ty)
				continue
			}
			rule.Types = append(rule.Types, typ)
		}
		z.Update = append(z.Update, rule)
	}
	switch {
	case t.Journal != "":
		z.Journal = c.Path(t.Journal)
	case z.File != "":
		z.Journal = z.File + ".jnl"
	default:
		z.Journal = c.Path(strings.TrimSuffix(z.Origin, ".") + ".jnl")
	}
}

func keyHint(c *Config) string {
	names := c.Keys.Names()
	if len(names) == 0 {
		return ": define it, e.g. [tsig.acme] with secret_file"
	}
	sort.Strings(names)
	return " (defined: " + strings.Join(names, ", ") + ")"
}
