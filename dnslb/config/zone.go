package config

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/update"
)

// zoneTOML is one [[zone]].
type zoneTOML struct {
	Origin  string   `toml:"origin"`  // required
	File    string   `toml:"file"`    // RFC 1035 master file, relative to the config file
	Records []string `toml:"records"` // master-file lines, relative to origin
	// Update lists who may change the zone at run time (RFC 2136); default
	// none: UPDATE is refused.
	Update []updateRuleTOML `toml:"update"`
	// Journal is where accepted updates are kept; default FILE.jnl beside
	// the zone file, or ORIGIN.jnl beside the config for a zone without one.
	Journal string `toml:"journal"`
	// DNSSEC signs the zone online; absent: served unsigned.
	DNSSEC *dnssecTOML `toml:"dnssec"`
}

// dnssecTOML is [zone.dnssec].
type dnssecTOML struct {
	Algorithm string `toml:"algorithm"` // "ecdsap256sha256" (default) or "ed25519": of keys created
	KeyDir    string `toml:"key_dir"`   // required; relative to the config file
}

// DNSSEC is [zone.dnssec], checked: the zone is signed online.
type DNSSEC struct {
	Algorithm uint8  // DNSSEC algorithm number of keys dnslb creates
	KeyDir    string // resolved against the config's folder
}

// Zone is one [[zone]], checked.
type Zone struct {
	Origin  string        // canonical
	File    string        // resolved against the config's folder; "" = none
	Records []string      // master-file lines, relative to Origin
	At      string        // key path, "zone[2]": with Config.Line, where it is written
	Update  update.Policy // who may change it (RFC 2136); empty: no one
	Journal string        // its journal, resolved; "" when it takes no updates
	DNSSEC  *DNSSEC       // nil: unsigned
}

func buildZones(ts []zoneTOML, v *validator, c *Config) []Zone {
	if len(ts) == 0 {
		v.errorf("zone", "no [[zone]]: add one with origin and file or records")
	}
	var out []Zone
	seen := map[string]bool{}
	for i, t := range ts {
		at := fmt.Sprintf("zone[%d]", i)
		if t.Origin == "" {
			v.errorf(at, "origin is required, e.g. origin = \"lb.example.com.\"")
			continue
		}
		if _, ok := dns.IsDomainName(t.Origin); !ok {
			v.errorf(at+".origin", "%q is not a domain name", t.Origin)
			continue
		}
		o := dns.CanonicalName(t.Origin)
		if seen[o] {
			v.errorf(at+".origin", "zone %s is defined twice", o)
		}
		seen[o] = true
		if t.File == "" && len(t.Records) == 0 {
			v.errorf(at, "zone %s has no data: set file = \"zones/%szone\" or records = [...]", o, o)
		}
		z := Zone{Origin: o, File: c.Path(t.File), Records: t.Records, At: at, DNSSEC: buildDNSSEC(t.DNSSEC, at+".dnssec", v, c)}
		buildUpdates(&ts[i], &z, v, c)
		out = append(out, z)
	}
	return out
}

// ZoneOf returns the index in Zones of the deepest zone that contains
// name, or -1.
func (c *Config) ZoneOf(name string) int {
	best := -1
	for i := range c.Zones {
		o := c.Zones[i].Origin
		if dns.IsSubDomain(o, name) && (best < 0 || len(o) > len(c.Zones[best].Origin)) {
			best = i
		}
	}
	return best
}

// algorithms are the DNSSEC algorithms dnslb creates keys with.
var algorithms = map[string]uint8{"ecdsap256sha256": dns.ECDSAP256SHA256, "ed25519": dns.ED25519}

func buildDNSSEC(t *dnssecTOML, at string, v *validator, c *Config) *DNSSEC {
	if t == nil {
		return nil
	}
	d := &DNSSEC{Algorithm: dns.ECDSAP256SHA256}
	if t.Algorithm != "" {
		alg, ok := algorithms[strings.ToLower(t.Algorithm)]
		if !ok {
			v.errorf(at+".algorithm", "%q is not a supported algorithm: use \"ecdsap256sha256\" or \"ed25519\"", t.Algorithm)
		}
		d.Algorithm = alg
	}
	if t.KeyDir == "" {
		v.errorf(at+".key_dir", "key_dir is required: the folder of the zone's key files, e.g. key_dir = \"keys\"")
	}
	d.KeyDir = c.Path(t.KeyDir)
	return d
}
