package dnslb

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/dnslb/dnslb/dnslb/geo"
)

// MapConfig is one [map.NAME]: datacenter lists by client location, for
// pools of policy "geo". It is compiled at load into a prefix table.
type MapConfig struct {
	GeoIPDB     string               `toml:"geoip_db"`    // default none: a MaxMind DB (GeoIP2/GeoLite2 City or Country), relative to the config
	Default     []string             `toml:"default"`     // required: datacenters of a client no rule matches, best first
	Auto        bool                 `toml:"auto"`        // default false: clients no rule names get datacenters by distance (needs coordinates)
	Locations   map[string][]string  `toml:"locations"`   // "CONTINENT[/COUNTRY[/SUBDIVISION[/CITY]]]" → datacenters; the most specific wins
	Nets        map[string][]string  `toml:"nets"`        // CIDR → datacenters; longest prefix wins, beats the database
	NetsFile    string               `toml:"nets_file"`   // default none: lines "CIDR dc1 dc2 ...", under nets (an equal network in nets wins)
	Coordinates map[string][]float64 `toml:"coordinates"` // datacenter → [latitude, longitude], for auto

	compiled *geo.Map
}

// validateMaps compiles every map, reading its database and nets file.
func (c *Config) validateMaps(v *validator) {
	names := make([]string, 0, len(c.Maps))
	for name := range c.Maps {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c.Maps[name].validate(c, v, name)
	}
}

func (mc *MapConfig) validate(c *Config, v *validator, name string) {
	at := "map." + name
	spec := &geo.Spec{Default: mc.Default, Auto: mc.Auto, Locations: mc.Locations, Coordinates: map[string]geo.Coord{}}
	if mc.GeoIPDB != "" {
		spec.DB = c.path(mc.GeoIPDB)
	}
	for _, dc := range sortedKeys(mc.Coordinates) {
		p := mc.Coordinates[dc]
		if len(p) != 2 {
			v.errorf(at+".coordinates."+dc, "write [latitude, longitude] in degrees, e.g. %s = [52.37, 4.90]", dc)
			continue
		}
		spec.Coordinates[dc] = geo.Coord{Lat: p[0], Lon: p[1]}
	}
	if mc.NetsFile != "" {
		path := c.path(mc.NetsFile)
		src, err := os.ReadFile(path)
		if err != nil {
			v.errorf(at+".nets_file", "%s cannot be read: %v", path, plainErr(err))
		} else if nets, err := geo.ParseNets(path, src); err != nil {
			v.errs = append(v.errs, fmt.Errorf("%w (%s.nets_file)", err, at))
		} else {
			spec.Nets = append(spec.Nets, nets...)
		}
	}
	for _, k := range sortedKeys(mc.Nets) {
		p, err := geo.ParsePrefix(k)
		if err != nil {
			v.errorf(at+".nets."+k, "%v", err)
			continue
		}
		spec.Nets = append(spec.Nets, geo.Net{Prefix: p, List: mc.Nets[k], Key: "nets." + k})
	}
	m, err := geo.Compile(spec)
	for _, e := range unjoin(err) {
		var ge *geo.Error
		if errors.As(e, &ge) {
			if ge.File != "" {
				v.errs = append(v.errs, &ConfigError{File: ge.File, Line: ge.Line, Msg: ge.Msg})
			} else {
				v.errorf(at+"."+ge.Key, "%s", ge.Msg)
			}
			continue
		}
		v.errorf(at, "%v", e)
	}
	mc.compiled = m
}

// validateGeoPool checks a geo pool against its map: every datacenter of
// its members is one the map names, and the map sends clients to at least
// one of them.
func (c *Config) validateGeoPool(v *validator, at string, p *PoolConfig) {
	if p.Within == "" {
		p.Within = "round_robin"
	}
	if p.Policy != "geo" {
		if p.Map != "" {
			v.errorf(at+".map", "only pools of policy \"geo\" use a map")
		}
		if p.Within != "round_robin" {
			v.errorf(at+".within", "only pools of policy \"geo\" use within")
		}
		for j, m := range p.Members {
			if m.Datacenter != "" {
				v.errorf(fmt.Sprintf("%s.members[%d].datacenter", at, j), "only members of a pool of policy \"geo\" have a datacenter")
			}
		}
		return
	}
	if p.Within == "geo" || !slices.Contains(policies, p.Within) {
		v.errorf(at+".within", "%q: use one of %s", p.Within, strings.Join(slices.DeleteFunc(slices.Clone(policies), func(s string) bool { return s == "geo" }), ", "))
	}
	mc := c.Maps[p.Map]
	switch {
	case p.Map == "":
		v.errorf(at, "a geo pool needs a map: map = \"<name of a [map.NAME]>\"")
	case mc == nil:
		v.errorf(at+".map", "no [map.%s] is defined%s", p.Map, c.mapHint())
	}
	known := map[string]bool{}
	if mc != nil && mc.compiled != nil {
		for _, dc := range mc.compiled.Datacenters() {
			known[dc] = true
		}
	}
	used := false
	for j, m := range p.Members {
		mat := fmt.Sprintf("%s.members[%d]", at, j)
		switch {
		case m.Datacenter == "":
			v.errorf(mat, "a member of a geo pool needs its datacenter, e.g. { address = %q, datacenter = \"ams\" }", m.Address)
		case mc != nil && mc.compiled != nil && !known[m.Datacenter]:
			v.errorf(mat+".datacenter", "%q is named by no entry of map %s (it names %s)", m.Datacenter, p.Map, strings.Join(mc.compiled.Datacenters(), ", "))
		default:
			used = true
		}
	}
	if mc != nil && mc.compiled != nil && !used && len(p.Members) > 0 {
		v.errorf(at+".map", "map %s names none of this pool's datacenters", p.Map)
	}
}

func (c *Config) mapHint() string {
	if len(c.Maps) == 0 {
		return ": add a [map.NAME] table"
	}
	return " (defined: " + strings.Join(sortedKeys(c.Maps), ", ") + ")"
}

// plainErr drops the path an *os.PathError repeats.
func plainErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
