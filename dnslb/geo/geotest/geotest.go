// Package geotest writes small MaxMind DB files (GeoIP2 City schema) for
// tests and benchmarks: no database is committed, every one is built.
package geotest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Entry is one network of a database.
type Entry struct {
	Net                                   string // CIDR
	Continent, Country, Subdivision, City string
	Lat, Lon                              float64 // written when Coord is set
	Coord                                 bool
}

func (e Entry) value() mmdbtype.Map {
	v := mmdbtype.Map{}
	if e.Continent != "" {
		v["continent"] = mmdbtype.Map{"code": mmdbtype.String(e.Continent)}
	}
	if e.Country != "" {
		v["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(e.Country)}
	}
	if e.Subdivision != "" {
		v["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(e.Subdivision)}}
	}
	if e.City != "" {
		v["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(e.City)}}
	}
	if e.Coord {
		v["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(e.Lat), "longitude": mmdbtype.Float64(e.Lon)}
	}
	return v
}

func newTree() (*mmdbwriter.Tree, error) {
	return mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-City", RecordSize: 28, IncludeReservedNetworks: true})
}

// Write writes a database of entries to path.
func Write(path string, entries []Entry) error {
	t, err := newTree()
	if err != nil {
		return err
	}
	for _, e := range entries {
		_, n, err := net.ParseCIDR(e.Net)
		if err != nil {
			return err
		}
		if err := t.Insert(n, e.value()); err != nil {
			return fmt.Errorf("%s: %w", e.Net, err)
		}
	}
	return save(t, path)
}

func save(t *mmdbwriter.Tree, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := t.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Networks is a small database for tests: one network per place a
// location rule can name (continent, country, subdivision, city), IPv4
// and IPv6. Callers append their own and must not modify it.
var Networks = []Entry{
	{Net: "81.2.69.0/24", Continent: "EU", Country: "GB", Subdivision: "ENG", City: "London", Lat: 51.5, Lon: -0.1, Coord: true},
	{Net: "81.2.70.0/24", Continent: "EU", Country: "GB", Subdivision: "SCT", City: "Edinburgh", Lat: 55.9, Lon: -3.2, Coord: true},
	{Net: "2.16.0.0/16", Continent: "EU", Country: "FR", Lat: 48.9, Lon: 2.3, Coord: true},
	{Net: "12.0.0.0/16", Continent: "NA", Country: "US", Subdivision: "CA", City: "San Jose", Lat: 37.3, Lon: -121.9, Coord: true},
	{Net: "12.1.0.0/16", Continent: "NA", Country: "US", Subdivision: "CA", City: "Los Angeles", Lat: 34.1, Lon: -118.2, Coord: true},
	{Net: "12.2.0.0/16", Continent: "NA", Country: "US", Subdivision: "NY", City: "New York", Lat: 40.7, Lon: -74.0, Coord: true},
	{Net: "1.0.0.0/16", Continent: "AS", Country: "JP", Lat: 35.7, Lon: 139.7, Coord: true},
	{Net: "1.1.0.0/16", Continent: "OC", Country: "AU", Lat: -33.9, Lon: 151.2, Coord: true},
	{Net: "2001:db8:100::/40", Continent: "EU", Country: "GB", Subdivision: "ENG", City: "London", Lat: 51.5, Lon: -0.1, Coord: true},
	{Net: "2001:db8:200::/40", Continent: "NA", Country: "US", Subdivision: "CA", City: "San Jose", Lat: 37.3, Lon: -121.9, Coord: true},
}

// Continents of the generated databases, with a point in each.
var places = []Entry{
	{Continent: "EU", Country: "GB", Subdivision: "ENG", City: "London", Lat: 51.5, Lon: -0.1},
	{Continent: "EU", Country: "NL", Subdivision: "NH", City: "Amsterdam", Lat: 52.4, Lon: 4.9},
	{Continent: "EU", Country: "DE", Subdivision: "HE", City: "Frankfurt am Main", Lat: 50.1, Lon: 8.7},
	{Continent: "NA", Country: "US", Subdivision: "CA", City: "San Jose", Lat: 37.3, Lon: -121.9},
	{Continent: "NA", Country: "US", Subdivision: "VA", City: "Ashburn", Lat: 39.0, Lon: -77.5},
	{Continent: "AS", Country: "JP", Subdivision: "13", City: "Tokyo", Lat: 35.7, Lon: 139.7},
	{Continent: "OC", Country: "AU", Subdivision: "NSW", City: "Sydney", Lat: -33.9, Lon: 151.2},
	{Continent: "SA", Country: "BR", Subdivision: "SP", City: "São Paulo", Lat: -23.5, Lon: -46.6},
}

// WriteRandom writes a database of about n networks (three in four IPv4
// networks of /20 to /28 from 1.0.0.0, the rest IPv6 /32 to
// /64 under 2000::/3), each with one of n/10 records (places jittered), as
// GeoIP2 City databases share records between networks.
func WriteRandom(path string, n int, seed uint64) error {
	t, err := newTree()
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	records := make([]mmdbtype.Map, max(n/10, 1))
	for i := range records {
		p := places[r.IntN(len(places))]
		p.City = fmt.Sprintf("%s %d", p.City, i)
		p.Lat += r.Float64() - 0.5
		p.Lon += r.Float64() - 0.5
		p.Coord = true
		records[i] = p.value()
	}
	v4 := n * 3 / 4
	// Networks are laid out in order, each after the last, so that they
	// never overlap: a random gap, then a block of a random size.
	var next4 uint32 = 1 << 24
	for range v4 {
		bits := 20 + r.IntN(9)
		size := uint32(1) << (32 - bits)
		next4 = (next4 + size - 1) &^ (size - 1) // aligned
		ip := net.IPv4(byte(next4>>24), byte(next4>>16), byte(next4>>8), byte(next4)).To4()
		if err := t.Insert(&net.IPNet{IP: ip, Mask: net.CIDRMask(bits, 32)}, records[r.IntN(len(records))]); err != nil {
			return err
		}
		next4 += size * uint32(1+r.IntN(2))
	}
	var next6 uint64 = 0x2000 << 48 // the upper 64 bits
	for range n - v4 {
		bits := 32 + r.IntN(33)
		size := uint64(1) << (64 - bits)
		next6 = (next6 + size - 1) &^ (size - 1)
		ip := make(net.IP, 16)
		for i := range 8 {
			ip[i] = byte(next6 >> (56 - 8*i))
		}
		if err := t.Insert(&net.IPNet{IP: ip, Mask: net.CIDRMask(bits, 128)}, records[r.IntN(len(records))]); err != nil {
			return err
		}
		next6 += size * uint64(1+r.IntN(2))
	}
	return save(t, path)
}
