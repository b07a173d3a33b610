package geo

import (
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/dnslb/dnslb/dnslb/geo/geotest"
)

// bigSpec is a map over a generated database of n networks with a rule
// per continent and auto for the rest.
func bigSpec(tb testing.TB, n int) *Spec {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "big.mmdb")
	if err := geotest.WriteRandom(path, n, 1); err != nil {
		tb.Fatal(err)
	}
	return &Spec{
		DB: path, Default: []string{"iad", "ams"}, Auto: true,
		Locations:   map[string][]string{"EU/GB": {"lhr", "ams"}, "NA/US/CA": {"sjc", "iad"}, "AS": {"nrt", "sjc"}},
		Coordinates: map[string]Coord{"ams": {52.4, 4.9}, "iad": {38.9, -77.5}, "sjc": {37.4, -121.9}, "nrt": {35.8, 140.4}, "lhr": {51.5, -0.5}},
	}
}

// BenchmarkLookup: one client's list and scope in a map of 100,000
// database networks, clients spread over the networks.
func BenchmarkLookup(b *testing.B) {
	m, err := Compile(bigSpec(b, 100_000))
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, v6 := range []bool{false, true} {
		addrs := make([]netip.Addr, 4096)
		for i := range addrs {
			if v6 {
				addrs[i] = netip.AddrFrom16([16]byte{0x20, 0, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			} else {
				addrs[i] = netip.AddrFrom4([4]byte{byte(1 + r.IntN(12)), byte(r.IntN(256)), byte(r.IntN(256)), 1})
			}
		}
		name := "v4"
		if v6 {
			name = "v6"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				m.Lookup(addrs[i&4095])
			}
		})
	}
}

// BenchmarkPrefetch4: what the server spends on every query from an IPv4
// client when geo maps are loaded, whether or not the query is for a geo
// pool: the set's address and the prefetch instruction.
func BenchmarkPrefetch4(b *testing.B) {
	m, err := Compile(&Spec{Default: []string{"iad"}})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	addrs := make([]uint32, 4096)
	for i := range addrs {
		addrs[i] = r.Uint32()
	}
	b.ReportAllocs()
	for i := range b.N {
		m.Prefetch4(addrs[i&4095])
	}
}

// BenchmarkCompile: reading and compiling a database of 100,000 networks
// (`make geoscale` measures one of 1,000,000 with dnslb -check).
func BenchmarkCompile(b *testing.B) {
	spec := bigSpec(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := Compile(spec); err != nil {
			b.Fatal(err)
		}
	}
}
