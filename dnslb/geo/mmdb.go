package geo

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// record is what a map reads of a database entry (GeoIP2 City or Country
// schema).
type record struct {
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"subdivisions"`
	City struct {
		Names struct {
			En string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// Location is where a database puts an address.
type Location struct {
	Continent, Country, Subdivision, City string
	Coord                                 *Coord
}

func (r *record) location() Location {
	l := Location{Continent: r.Continent.Code, Country: r.Country.ISOCode, City: r.City.Names.En}
	if l.Country == "" {
		l.Country = r.RegisteredCountry.ISOCode
	}
	if len(r.Subdivisions) > 0 {
		l.Subdivision = r.Subdivisions[0].ISOCode
	}
	if r.Location.Latitude != nil && r.Location.Longitude != nil {
		l.Coord = &Coord{*r.Location.Latitude, *r.Location.Longitude}
	}
	return l
}

// String is the location as a locations key would name it.
func (l Location) String() string {
	parts := []string{l.Continent, l.Country, l.Subdivision, l.City}
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	s := strings.Join(parts, "/")
	if l.Coord != nil {
		s += fmt.Sprintf(" (%.4f, %.4f)", l.Coord.Lat, l.Coord.Lon)
	}
	if s == "" {
		return "unknown"
	}
	return s
}

// Rule names what decides the list of a location: the locations key that
// matched, "auto", or "default".
func (s *Spec) Rule(l Location) (string, []string) {
	keys := []string{l.Continent}
	if l.Country != "" {
		keys = append(keys, l.Continent+"/"+l.Country)
		if l.Subdivision != "" {
			keys = append(keys, keys[1]+"/"+l.Subdivision)
			if l.City != "" {
				keys = append(keys, keys[2]+"/"+l.City)
			}
		}
	}
	for i := len(keys) - 1; i >= 0; i-- {
		if list, ok := s.Locations[keys[i]]; ok && l.Continent != "" {
			return "locations." + keys[i], list
		}
	}
	if s.Auto && l.Coord != nil {
		return "auto", s.byDistance(*l.Coord)
	}
	return "default", s.Default
}

// byDistance orders the datacenters with coordinates by great-circle
// distance from p, nearest first (ties by name).
func (s *Spec) byDistance(p Coord) []string {
	dcs := sortedKeys(s.Coordinates)
	d := make(map[string]float64, len(dcs))
	for _, dc := range dcs {
		d[dc] = distance(p, s.Coordinates[dc])
	}
	slices.SortStableFunc(dcs, func(a, b string) int {
		switch {
		case d[a] < d[b]:
			return -1
		case d[a] > d[b]:
			return 1
		}
		return 0
	})
	return dcs
}

// distance is the central angle between two points (haversine), which
// orders as the great-circle distance does.
func distance(a, b Coord) float64 {
	const rad = math.Pi / 180
	la1, la2 := a.Lat*rad, b.Lat*rad
	dla, dlo := la2-la1, (b.Lon-a.Lon)*rad
	h := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1)*math.Cos(la2)*math.Sin(dlo/2)*math.Sin(dlo/2)
	return 2 * math.Asin(math.Sqrt(min(h, 1)))
}

// readDB walks every network of the database once. Networks that share a
// record (most do) are decoded once.
func (c *compiler) readDB(path string) (items []item, err error) {
	db, err := maxminddb.Open(path)
	if err != nil {
		return nil, dbError(path, err)
	}
	defer db.Close()
	byRecord := map[uintptr]int32{}
	for r := range db.Networks() {
		if err := r.Err(); err != nil {
			return nil, dbError(path, err)
		}
		list, ok := byRecord[r.Offset()]
		if !ok {
			var rec record
			if err := r.Decode(&rec); err != nil {
				return nil, dbError(path, err)
			}
			_, names := c.spec.Rule(rec.location())
			list = c.intern(names)
			byRecord[r.Offset()] = list
		}
		items = append(items, newItem(r.Prefix(), false, list))
		c.networks++
	}
	return items, nil
}

// dbError says in plain words what is wrong with a database file.
func dbError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s does not exist: download a MaxMind DB (e.g. GeoLite2-City.mmdb with geoipupdate) or fix the path", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s cannot be read: permission denied", path)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s cannot be read: %v", path, pe.Err)
	}
	return fmt.Errorf("%s is not a valid MaxMind DB (%v): replace it with a complete .mmdb file", path, err)
}

// Locate reads the database (if any) for a and tells what the map does
// with it, for `dnslb -locate`. It is slow: it opens the file.
func (m *Map) Locate(a netip.Addr) (Located, error) {
	var out Located
	out.List, out.Scope = m.Lookup(a)
	out.First, out.Last = m.Range(a)
	if v4, _, ok := Embedded(a); ok {
		a = v4 // what the database and the rules see
	}
	for _, n := range m.spec.Nets {
		if n.Prefix.Contains(a) && (!out.Net.IsValid() || n.Prefix.Bits() >= out.Net.Bits()) {
			out.Net, out.Rule = n.Prefix, "nets "+n.Prefix.String()
		}
	}
	if m.spec.DB != "" {
		db, err := maxminddb.Open(m.spec.DB)
		if err != nil {
			return out, dbError(m.spec.DB, err)
		}
		defer db.Close()
		r := db.Lookup(a)
		if r.Found() {
			var rec record
			if err := r.Decode(&rec); err != nil {
				return out, dbError(m.spec.DB, err)
			}
			l := rec.location()
			out.Location = &l
			out.DBNet = r.Prefix()
		}
	}
	if out.Rule == "" {
		l := Location{}
		if out.Location != nil {
			l = *out.Location
		}
		out.Rule, _ = m.spec.Rule(l)
	}
	return out, nil
}

// Located is what Locate found.
type Located struct {
	Location    *Location    // nil: the database has no entry (or there is no database)
	DBNet       netip.Prefix // the database network of the entry
	Net         netip.Prefix // the nets entry that matched, if any
	Rule        string       // "nets …", "locations.…", "auto" or "default"
	List        int          // index into Lists
	Scope       int          // ECS scope of the answer
	First, Last netip.Addr   // the range of addresses with the same list
}
