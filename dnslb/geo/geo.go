// Package geo compiles a geo map — datacenter lists by location (from a
// MaxMind DB), by network (nets) and by distance (auto) — into an immutable
// prefix table over the IPv6 space (IPv4 as ::ffff:0:0/96). A lookup is a
// binary search: no database decoding and no allocation per query. Each
// answer comes with its scope: the prefix length over which the answer
// cannot differ, the matched network merged with the neighbours that give
// the same list, as gdnsd computes it for EDNS Client Subnet.
package geo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
)

// Spec is a map as configured. Names are datacenters.
type Spec struct {
	DB          string              // path of a MaxMind DB (GeoIP2/GeoLite2 City or Country schema); "" = none
	Default     []string            // required: the list of a client no rule matches
	Auto        bool                // default false: clients no rule names get datacenters by distance
	Locations   map[string][]string // "CONTINENT[/COUNTRY[/SUBDIVISION[/CITY]]]" → list; most specific wins
	Nets        []Net               // longest prefix wins, beats the database; of equal prefixes the later
	Coordinates map[string]Coord    // of datacenters, for auto
}

// Net is one nets entry.
type Net struct {
	Prefix netip.Prefix
	List   []string
	Key    string // where it was written: "nets.10.0.0.0/8", or empty with File and Line
	File   string
	Line   int
}

// Coord is a point on the globe in degrees.
type Coord struct{ Lat, Lon float64 }

// Error is one problem of a spec: at Key of the map ("locations.EU/XX",
// "geoip_db"), or at File:Line of a nets file.
type Error struct {
	Key  string
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return "geo: " + e.Key + ": " + e.Msg
}

// Map is a compiled map. It is safe for concurrent use: its table is
// immutable, and lookups fill a cache of answers to IPv4 /24s atomically.
type Map struct {
	dcs      []string // every datacenter the map names, sorted
	lists    [][]int  // datacenter lists, as indexes into dcs
	t        *table
	t4       *table4 // the IPv4 part of t, for IPv4 lookups
	c        *cache  // answers to clients met lately
	spec     *Spec
	db       os.FileInfo // the database as found before it was read; nil = none
	dflt     int         // the default list
	Networks int         // database networks read
}

// Reusable reports whether m is what Compile(s) would build now: s equals
// the spec m was compiled from (nets and where they were written
// included), and the database file is still the one m read — the same
// file (device and inode) of the same size and modification time. A
// reload that changes nothing of a map keeps it instead of reading a
// database of millions of networks again.
func (m *Map) Reusable(s *Spec) bool {
	if !m.spec.equal(s) {
		return false
	}
	if s.DB == "" {
		return true
	}
	st, err := os.Stat(s.DB)
	return err == nil && m.db != nil && os.SameFile(m.db, st) && m.db.Size() == st.Size() && m.db.ModTime().Equal(st.ModTime())
}

// equal reports whether s and o are the same spec.
func (s *Spec) equal(o *Spec) bool {
	return s.DB == o.DB && slices.Equal(s.Default, o.Default) && s.Auto == o.Auto &&
		maps.EqualFunc(s.Locations, o.Locations, slices.Equal) && maps.Equal(s.Coordinates, o.Coordinates) &&
		slices.EqualFunc(s.Nets, o.Nets, func(a, b Net) bool {
			return a.Prefix == b.Prefix && slices.Equal(a.List, b.List) && a.Key == b.Key && a.File == b.File && a.Line == b.Line
		})
}

// DefaultList is the index of the default list in Lists.
func (m *Map) DefaultList() int { return m.dflt }

// Datacenters returns every datacenter the map names (sorted). The caller
// must not modify it.
func (m *Map) Datacenters() []string { return m.dcs }

// Lists returns the distinct datacenter lists, as indexes into
// Datacenters; Lookup returns an index into it. The caller must not modify it.
func (m *Map) Lists() [][]int { return m.lists }

// Ranges is the number of ranges of the compiled table.
func (m *Map) Ranges() int { return len(m.t.list) }

// Lookup returns the list of the client at a (an index into Lists) and the
// scope: the prefix length, in a's own family (IPv4 bits for an IPv4
// address, IPv6 bits for any IPv6 one), over which the answer is the same.
// An IPv6 address of a space that embeds an IPv4 address (v4-mapped,
// v4-compatible, 6to4, Teredo) gets that IPv4 address's list, as in
// gdnsd's geoip plugin; its scope is the IPv4 one in its place.
func (m *Map) Lookup(a netip.Addr) (list int, scopeBits int) {
	if a.Is4() {
		return m.Lookup4(v4Key(a))
	}
	k := addrKey(a)
	return m.Lookup6(k.hi, k.lo)
}

// Lookup4 is Lookup of the IPv4 address a.
func (m *Map) Lookup4(a uint32) (list int, scopeBits int) {
	l, s := m.lookup4(a)
	return int(l), s
}

// Lookup6 is Lookup of the IPv6 address hi<<64 | lo.
func (m *Map) Lookup6(hi, lo uint64) (list int, scopeBits int) {
	k := u128{hi, lo}
	if sp := embeds(k); sp != nil {
		return m.lookupEmbedded(sp, k)
	}
	set, want := m.c.slot6(hi)
	if e := set.get(want); e != 0 {
		return int(e >> 6 & (cacheLists - 1)), int(e & (cacheScopes - 1))
	}
	return m.miss6(k, set, want)
}

// lookupEmbedded is Lookup6 of an address k of space sp: its IPv4
// address's list, and the IPv4 scope in its place.
func (m *Map) lookupEmbedded(sp *space, k u128) (int, int) {
	l, s := m.lookup4(sp.v4(k))
	if s == 0 {
		return int(l), sp.bits // the whole space
	}
	return int(l), sp.at + s
}

func v4Key(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// Range returns the first and last address of the range holding a: the
// network the answer came from, merged with neighbours giving the same
// list. For an IPv6 address that embeds an IPv4 one, it is the IPv4 range.
func (m *Map) Range(a netip.Addr) (netip.Addr, netip.Addr) {
	if sp := embeds(addrKey(a)); sp != nil && a.Is6() {
		a = sp.addr(addrKey(a))
	}
	if a.Is4() {
		first, last := m.t4.bounds(m.t4.find(v4Key(a)))
		return netip.AddrFrom4([4]byte{byte(first >> 24), byte(first >> 16), byte(first >> 8), byte(first)}),
			netip.AddrFrom4([4]byte{byte(last >> 24), byte(last >> 16), byte(last >> 8), byte(last)})
	}
	first, last := m.t.bounds(m.t.find(addrKey(a)))
	return keyAddr(first), keyAddr(last)
}

func keyAddr(k u128) netip.Addr {
	var b [16]byte
	for i := range 8 {
		b[i] = byte(k.hi >> (56 - 8*i))
		b[8+i] = byte(k.lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}

// continents are the codes of MaxMind's continent field.
var continents = []string{"AF", "AN", "AS", "EU", "NA", "OC", "SA"}

// Compile checks s and compiles it, reading its database once. Every
// problem found is returned (joined *Error values).
func Compile(s *Spec) (*Map, error) {
	c := &compiler{spec: s, index: map[string]int32{}, dcIndex: map[string]int{}}
	c.checkList("default", s.Default, true)
	for _, k := range sortedKeys(s.Locations) {
		c.checkLocation(k)
		c.checkList("locations."+k, s.Locations[k], false)
	}
	for _, n := range s.Nets {
		if n.File == "" { // ParseNets checked the file's
			c.checkList(n.Key, n.List, false)
		}
		for _, sp := range spaces {
			if n.Prefix.Addr().Is6() && n.Prefix.Bits() >= sp.bits && sp.prefix.Contains(n.Prefix.Addr()) {
				e := &Error{Key: n.Key, File: n.File, Line: n.Line, Msg: fmt.Sprintf("%s lies in %s %s, whose clients are located by the IPv4 address they embed: write that IPv4 network instead", n.Prefix, sp.name, sp.prefix)}
				c.errs = append(c.errs, e)
			}
		}
	}
	for _, dc := range sortedKeys(s.Coordinates) {
		p := s.Coordinates[dc]
		if math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90 || math.IsNaN(p.Lon) || p.Lon < -180 || p.Lon > 180 {
			c.errorf("coordinates."+dc, "[%g, %g]: write [latitude, longitude] in degrees, latitude -90 to 90, longitude -180 to 180", p.Lat, p.Lon)
		}
		c.dc(dc)
	}
	if s.Auto && len(s.Coordinates) == 0 {
		c.errorf("auto", "auto needs the coordinates of the datacenters: add [map.NAME.coordinates] with dc = [latitude, longitude]")
	}
	if s.DB == "" {
		if len(s.Locations) > 0 {
			c.errorf("locations", "locations need a database: set geoip_db to a MaxMind DB file (e.g. GeoLite2-City.mmdb)")
		}
		if s.Auto {
			c.errorf("auto", "auto needs a database with coordinates: set geoip_db to a MaxMind City DB file")
		}
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	dflt := c.intern(s.Default)
	var items []item
	var db os.FileInfo
	if s.DB != "" {
		// Found before it is read: a file replaced meanwhile differs from
		// it, and the next reload reads that file.
		db, _ = os.Stat(s.DB)
		var err error
		if items, err = c.readDB(s.DB); err != nil {
			return nil, &Error{Key: "geoip_db", Msg: err.Error()}
		}
	}
	for _, n := range s.Nets {
		items = append(items, newItem(n.Prefix, true, c.intern(n.List)))
	}
	if len(c.lists) >= maxLists4 {
		return nil, &Error{Key: "locations", Msg: fmt.Sprintf("the rules make %d distinct datacenter lists; at most %d are possible", len(c.lists), maxLists4-1)}
	}
	m := &Map{spec: s, db: db, dflt: int(dflt), Networks: c.networks, c: new(cache)}
	m.t, m.t4 = splitTables(build(items, dflt), leafEscape)
	// Datacenter indexes follow the order names were met; sort them.
	m.dcs = make([]string, len(c.dcIndex))
	for name, i := range c.dcIndex {
		m.dcs[i] = name
	}
	order := make([]int, len(m.dcs)) // old index → new
	sorted := slices.Clone(m.dcs)
	sort.Strings(sorted)
	for i, name := range m.dcs {
		order[i] = sort.SearchStrings(sorted, name)
	}
	m.dcs = sorted
	for _, l := range c.lists {
		for j := range l {
			l[j] = order[l[j]]
		}
	}
	m.lists = c.lists
	return m, nil
}

type compiler struct {
	spec     *Spec
	errs     []error
	lists    [][]int
	index    map[string]int32 // list key → index into lists
	dcIndex  map[string]int
	networks int
}

func (c *compiler) errorf(key, format string, args ...any) {
	c.errs = append(c.errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (c *compiler) dc(name string) int {
	i, ok := c.dcIndex[name]
	if !ok {
		i = len(c.dcIndex)
		c.dcIndex[name] = i
	}
	return i
}

// checkList reports an empty list, an empty or repeated name.
func (c *compiler) checkList(key string, list []string, required bool) {
	if len(list) == 0 {
		if required {
			c.errorf(key, "is required: the datacenters, best first, e.g. [\"ams\", \"iad\"]")
		} else {
			c.errorf(key, "name at least one datacenter, best first, e.g. [\"ams\", \"iad\"]")
		}
		return
	}
	for i, dc := range list {
		switch {
		case dc == "" || strings.ContainsAny(dc, " \t/\"#"):
			c.errorf(key, "%q is not a datacenter name: use letters, digits, '-', '_' or '.'", dc)
		case slices.Contains(list[:i], dc):
			c.errorf(key, "%q is listed twice", dc)
		}
	}
}

// checkLocation checks a locations key's shape.
func (c *compiler) checkLocation(key string) {
	parts := strings.Split(key, "/")
	switch {
	case len(parts) > 4:
		c.errorf("locations."+key, "use at most CONTINENT/COUNTRY/SUBDIVISION/CITY, e.g. \"NA/US/CA/San Francisco\"")
	case !slices.Contains(continents, parts[0]):
		c.errorf("locations."+key, "%q is not a continent code: use one of %s", parts[0], strings.Join(continents, ", "))
	case len(parts) > 1 && !isCode(parts[1], 2):
		c.errorf("locations."+key, "%q is not an ISO 3166-1 country code: use two capital letters, e.g. \"GB\"", parts[1])
	case len(parts) > 2 && !isCode(parts[2], 3):
		c.errorf("locations."+key, "%q is not an ISO 3166-2 subdivision code: use its part after the country, e.g. \"CA\" for US-CA", parts[2])
	case len(parts) > 3 && parts[3] == "":
		c.errorf("locations."+key, "the city is empty: write its English name, e.g. \"San Francisco\"")
	}
}

// isCode reports whether s is 1..n capital letters or digits.
func isCode(s string, n int) bool {
	if s == "" || len(s) > n {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// intern returns the index of list, adding it when new.
func (c *compiler) intern(list []string) int32 {
	key := strings.Join(list, "\x00")
	if i, ok := c.index[key]; ok {
		return i
	}
	l := make([]int, len(list))
	for j, dc := range list {
		l[j] = c.dc(dc)
	}
	i := int32(len(c.lists))
	c.lists = append(c.lists, l)
	c.index[key] = i
	return i
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
