package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/dnslb/dnslb/dnslb/geo"
)

// mapTOML is one [map.NAME]: datacenter lists by client location, for
// pools of policy "geo".
type mapTOML struct {
	GeoIPDB     string               `toml:"geoip_db"`    // default none: a MaxMind DB (GeoIP2/GeoLite2 City or Country), relative to the config
	Default     []string             `toml:"default"`     // required: datacenters of a client no rule matches, best first
	Auto        bool                 `toml:"auto"`        // default false: clients no rule names get datacenters by distance (needs coordinates)
	Locations   map[string][]string  `toml:"locations"`   // "CONTINENT[/COUNTRY[/SUBDIVISION[/CITY]]]" → datacenters; the most specific wins
	Nets        map[string][]string  `toml:"nets"`        // CIDR → datacenters; longest prefix wins, beats the database
	NetsFile    string               `toml:"nets_file"`   // default none: lines "CIDR dc1 dc2 ...", under nets (an equal network in nets wins)
	Coordinates map[string][]float64 `toml:"coordinates"` // datacenter → [latitude, longitude], for auto
}

// Map is one [map.NAME], compiled: the database was read once, and the
// rules became a prefix table.
type Map struct {
	Name string
	DB   string   // the database's path, resolved; "" = none
	Geo  *geo.Map // nil when the map has errors
	At   string   // key path, "map.world"
}

// buildMaps compiles every map, reading its database and nets file, or
// takes the previous config's map where nothing it was built from changed.
func buildMaps(ts map[string]*mapTOML, v *validator, c *Config) map[string]*Map {
	out := map[string]*Map{}
	for _, name := range sortedKeys(ts) {
		out[name] = ts[name].build(v, c, name)
	}
	return out
}

func (t *mapTOML) build(v *validator, c *Config, name string) *Map {
	errsBefore := len(v.errs)
	m := &Map{Name: name, DB: c.Path(t.GeoIPDB), At: "map." + name}
	spec := &geo.Spec{DB: m.DB, Default: t.Default, Auto: t.Auto, Locations: t.Locations, Coordinates: map[string]geo.Coord{}}
	for _, dc := range sortedKeys(t.Coordinates) {
		p := t.Coordinates[dc]
		if len(p) != 2 {
			v.errorf(m.At+".coordinates."+dc, "write [latitude, longitude] in degrees, e.g. %s = [52.37, 4.90]", dc)
			continue
		}
		spec.Coordinates[dc] = geo.Coord{Lat: p[0], Lon: p[1]}
	}
	if t.NetsFile != "" {
		path := c.Path(t.NetsFile)
		src, err := readNetsFile(path)
		if err != nil {
			v.errorf(m.At+".nets_file", "%v", err)
		} else if nets, err := geo.ParseNets(path, src); err != nil {
			v.errorf(m.At+".nets_file", "%v", err) // the nets file's line follows the config's
		} else {
			spec.Nets = append(spec.Nets, nets...)
		}
	}
	if m.DB != "" {
		// maxminddb maps the file: a FIFO would block, a device map nothing.
		if st, err := os.Stat(m.DB); err == nil && !st.Mode().IsRegular() {
			v.errorf(m.At+".geoip_db", "%s is not a regular file: name a MaxMind DB file (.mmdb)", m.DB)
			return m
		}
	}
	for _, k := range sortedKeys(t.Nets) {
		p, err := geo.ParsePrefix(k)
		if err != nil {
			v.errorf(m.At+".nets."+k, "%v", err)
			continue
		}
		spec.Nets = append(spec.Nets, geo.Net{Prefix: p, List: t.Nets[k], Key: "nets." + k})
	}
	if len(v.errs) == errsBefore && c.prev != nil {
		for _, pm := range c.prev.Maps {
			if pm.Geo != nil && pm.Geo.Reusable(spec) {
				m.Geo = pm.Geo
				return m
			}
		}
	}
	gm, err := geo.Compile(spec)
	for _, e := range unjoin(err) {
		var ge *geo.Error
		switch {
		case errors.As(e, &ge) && ge.File != "": // the nets file's line follows the config's, as ParseNets's
			v.errorf(m.At+".nets_file", "%v", ge)
		case errors.As(e, &ge):
			v.errorf(m.At+"."+ge.Key, "%s", ge.Msg)
		default:
			v.errorf(m.At, "%v", e)
		}
	}
	m.Geo = gm
	return m
}

// geoPool checks a pool's geo keys: a geo pool needs a map, its members a
// datacenter that map names, and the map must name at least one of them;
// other pools use none of these keys.
func (t *poolTOML) geoPool(v *validator, p *Pool, maps map[string]*Map) {
	if p.Policy != Geo {
		if t.Map != "" {
			v.errorf(p.At+".map", "only pools of policy \"geo\" use a map")
		}
		if t.Within != "" {
			v.errorf(p.At+".within", "only pools of policy \"geo\" use within")
		}
		for j, m := range t.Members {
			if m.Datacenter != "" {
				v.errorf(fmt.Sprintf("%s.members[%d].datacenter", p.At, j), "only members of a pool of policy \"geo\" have a datacenter")
			}
		}
		return
	}
	p.Within = RoundRobin
	if t.Within != "" {
		p.Within = Policy(t.Within)
		if p.Within == Geo || !contains(Policies, p.Within) {
			v.errorf(p.At+".within", "%q: use one of %s", t.Within, strings.TrimSuffix(policyList(), ", geo"))
		}
	}
	switch p.Map = maps[t.Map]; {
	case t.Map == "":
		v.errorf(p.At, "a geo pool needs a map: map = \"<name of a [map.NAME]>\"")
	case p.Map == nil:
		v.errorf(p.At+".map", "no [map.%s] is defined%s", t.Map, mapHint(maps))
	}
	var known []string
	if p.Map != nil && p.Map.Geo != nil {
		known = p.Map.Geo.Datacenters()
	}
	used := false
	for j, mt := range t.Members {
		at := fmt.Sprintf("%s.members[%d]", p.At, j)
		switch {
		case mt.Datacenter == "":
			v.errorf(at, "a member of a geo pool needs its datacenter, e.g. { address = %q, datacenter = \"ams\" }", mt.Address)
		case known != nil && !slices.Contains(known, mt.Datacenter):
			v.errorf(at+".datacenter", "%q is named by no entry of map %s (it names %s)", mt.Datacenter, t.Map, strings.Join(known, ", "))
		default:
			used = true
		}
	}
	if known != nil && !used && len(t.Members) > 0 {
		v.errorf(p.At+".map", "map %s names none of this pool's datacenters", t.Map)
	}
}

func mapHint(maps map[string]*Map) string {
	if len(maps) == 0 {
		return ": add a [map.NAME] table"
	}
	return " (defined: " + strings.Join(sortedKeys(maps), ", ") + ")"
}

// maxNetsFile bounds a nets file: a device named by mistake must not hang
// or exhaust the server.
const maxNetsFile = 256 << 20

func readNetsFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s cannot be read: %v", path, plainErr(err))
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case st.Size() > maxNetsFile:
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxNetsFile>>20)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s cannot be read: %v", path, plainErr(err))
	}
	return b, nil
}

// plainErr drops the path an *os.PathError repeats.
func plainErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
