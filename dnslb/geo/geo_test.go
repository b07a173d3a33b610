package geo

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dnslb/dnslb/dnslb/geo/geotest"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// testDB is a database with one network per kind of rule: geotest's
// networks and one without coordinates.
var testDB = append(slices.Clip(geotest.Networks),
	geotest.Entry{Net: "5.0.0.0/16", Continent: "EU", Country: "DE"})

func writeTestDB(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	if err := geotest.Write(path, testDB); err != nil {
		t.Fatal(err)
	}
	return path
}

func names(m *Map, list int) string {
	var s []string
	for _, i := range m.Lists()[list] {
		s = append(s, m.Datacenters()[i])
	}
	return strings.Join(s, " ")
}

func TestCompileRules(t *testing.T) {
	db := writeTestDB(t)
	spec := &Spec{
		DB:      db,
		Default: []string{"iad", "ams"},
		Locations: map[string][]string{
			"EU":                {"ams", "fra", "iad"},
			"EU/GB":             {"lhr", "ams", "iad"},
			"EU/GB/SCT":         {"ams", "lhr"},
			"NA/US/CA":          {"sjc", "iad"},
			"NA/US/CA/San Jose": {"sjc"},
			"AS":                {"nrt", "sjc"},
		},
		Nets: []Net{
			{Prefix: netip.MustParsePrefix("81.2.69.128/25"), List: []string{"fra"}, Key: "nets.81.2.69.128/25"},
			{Prefix: netip.MustParsePrefix("12.2.0.0/16"), List: []string{"ams"}, Key: "nets.12.2.0.0/16"},
			{Prefix: netip.MustParsePrefix("12.2.3.0/24"), List: []string{"sjc"}, Key: "nets.12.2.3.0/24"},
		},
	}
	m, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr, want string
		scope      int
	}{
		{"81.2.69.1", "lhr ams iad", 25},                         // country (its /24 less the nets /25)
		{"81.2.69.200", "fra", 25},                               // nets beat the database
		{"81.2.70.1", "ams lhr", 24},                             // subdivision
		{"2.16.1.1", "ams fra iad", 16},                          // continent
		{"5.0.0.1", "ams fra iad", 16},                           // continent, no coordinates
		{"12.0.0.1", "sjc", 16},                                  // city
		{"12.1.0.1", "sjc iad", 16},                              // subdivision, another city
		{"12.2.0.1", "ams", 23},                                  // nets over the database
		{"12.2.3.4", "sjc", 24},                                  // longer nets win
		{"1.0.0.1", "nrt sjc", 16},                               // continent
		{"1.1.0.1", "iad ams", 16},                               // OC: no rule, default
		{"192.0.2.1", "iad ams", 0},                              // not in the database
		{"2001:db8:100::1", "lhr ams iad", 40},                   // IPv6 country
		{"2001:db8:200::1", "sjc", 40},                           // IPv6 city
		{"2001:db8:300::1", "iad ams", 0},                        // IPv6 default
		{"::ffff:12.0.0.1", "sjc", 96 + 16},                      // v4-mapped is located as IPv4, its scope in IPv6 bits
		{"::12.0.0.1", "sjc", 96 + 16},                           // so is v4-compatible
		{"2002:c00:1::1", "sjc", 16 + 16},                        // 6to4 of 12.0.0.1
		{"2001:0:4136:e378:8000:63bf:f3ff:fffe", "sjc", 96 + 16}, // Teredo of 12.0.0.1 (inverted)
	}
	for _, tt := range tests {
		list, s := m.Lookup(netip.MustParseAddr(tt.addr))
		if got := names(m, list); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.addr, got, tt.want)
		}
		if tt.scope > 0 && s != tt.scope {
			t.Errorf("%s: scope %d, want %d", tt.addr, s, tt.scope)
		}
	}
	if m.Networks != len(testDB) {
		t.Errorf("read %d networks, want %d", m.Networks, len(testDB))
	}
	loc, err := m.Locate(netip.MustParseAddr("12.0.0.7"))
	if err != nil {
		t.Fatal(err)
	}
	if loc.Location == nil || loc.Location.String() != "NA/US/CA/San Jose (37.3000, -121.9000)" || loc.Rule != "locations.NA/US/CA/San Jose" || loc.DBNet.String() != "12.0.0.0/16" {
		t.Errorf("Locate: %+v %v", loc, loc.Location)
	}
	loc, _ = m.Locate(netip.MustParseAddr("12.2.3.9"))
	if loc.Rule != "nets 12.2.3.0/24" || names(m, loc.List) != "sjc" {
		t.Errorf("Locate: %+v", loc)
	}
}

func TestCompileAuto(t *testing.T) {
	spec := &Spec{
		DB:          writeTestDB(t),
		Default:     []string{"iad"},
		Auto:        true,
		Locations:   map[string][]string{"EU/FR": {"iad"}},
		Coordinates: map[string]Coord{"iad": {38.9, -77.0}, "ams": {52.4, 4.9}, "sjc": {37.3, -121.9}, "nrt": {35.7, 139.7}},
	}
	m, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{
		"81.2.69.1":  "ams iad sjc nrt", // London
		"12.0.0.1":   "sjc iad nrt ams", // San Jose
		"12.2.0.1":   "iad sjc ams nrt", // New York
		"1.0.0.1":    "nrt sjc ams iad", // Tokyo
		"1.1.0.1":    "nrt sjc iad ams", // Sydney
		"2.16.0.1":   "iad",             // a rule beats auto
		"5.0.0.1":    "iad",             // no coordinates: default
		"192.0.2.10": "iad",
	} {
		if list, _ := m.Lookup(netip.MustParseAddr(addr)); names(m, list) != want {
			t.Errorf("%s: %q, want %q", addr, names(m, list), want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	os.WriteFile(corrupt, []byte("not a database at all"), 0o644)
	truncated := filepath.Join(dir, "truncated.mmdb")
	full, _ := os.ReadFile(writeTestDB(t))
	os.WriteFile(truncated, full[:len(full)/2], 0o644)
	tests := []struct {
		name string
		spec Spec
		want []string // one Error per entry, key and words
	}{
		{"no default", Spec{}, []string{"default: is required"}},
		{"missing db", Spec{DB: filepath.Join(dir, "nope.mmdb"), Default: []string{"a"}}, []string{"geoip_db: " + filepath.Join(dir, "nope.mmdb") + " does not exist"}},
		{"corrupt db", Spec{DB: corrupt, Default: []string{"a"}}, []string{"geoip_db: " + corrupt + " is not a valid MaxMind DB"}},
		{"truncated db", Spec{DB: truncated, Default: []string{"a"}}, []string{"geoip_db: " + truncated + " is not a valid MaxMind DB"}},
		{"bad location keys", Spec{DB: corrupt, Default: []string{"a"}, Locations: map[string][]string{
			"XX": {"a"}, "EU/gb": {"a"}, "EU/GB/ENG/London/x": {"a"}, "EU/GB/": {"a"}, "EU/GB/ENG/": {"a"}, "EU/DE": {},
		}}, []string{
			`locations.EU/DE: name at least one datacenter`,
			`locations.EU/GB/: "" is not an ISO 3166-2 subdivision code`,
			`locations.EU/GB/ENG/: the city is empty`,
			`locations.EU/GB/ENG/London/x: use at most`,
			`locations.EU/gb: "gb" is not an ISO 3166-1 country code`,
			`locations.XX: "XX" is not a continent code`,
		}},
		{"lists", Spec{Default: []string{"a", "a"}, Nets: []Net{{Prefix: netip.MustParsePrefix("10.0.0.0/8"), List: []string{"a b"}, Key: "nets.10.0.0.0/8"}}},
			[]string{`default: "a" is listed twice`, `nets.10.0.0.0/8: "a b" is not a datacenter name`}},
		{"locations without db", Spec{Default: []string{"a"}, Locations: map[string][]string{"EU": {"a"}}}, []string{"locations: locations need a database"}},
		{"auto without coordinates", Spec{Default: []string{"a"}, Auto: true}, []string{"auto: auto needs a database", "auto: auto needs the coordinates"}},
		{"coordinates", Spec{Default: []string{"a"}, Coordinates: map[string]Coord{"a": {91, 0}, "b": {0, -181}}}, []string{"coordinates.a: [91, 0]", "coordinates.b: [0, -181]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(&tt.spec)
			var got []string
			for _, e := range unjoin(err) {
				var ge *Error
				if !errors.As(e, &ge) {
					t.Fatalf("%v is not a *geo.Error", e)
				}
				got = append(got, ge.Key+": "+ge.Msg)
			}
			slices.Sort(got)
			if len(got) != len(tt.want) {
				t.Fatalf("errors:\n%s\nwant %d like\n%s", strings.Join(got, "\n"), len(tt.want), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %q, want it to begin %q", got[i], tt.want[i])
				}
			}
		})
	}
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

func TestParseNets(t *testing.T) {
	tests := []struct {
		src, want, err string
	}{
		{"10.0.0.0/8 ams fra\n# all of it\n\n2001:db8::/32   iad # a comment\n", "10.0.0.0/8=ams,fra@1 2001:db8::/32=iad@4", ""},
		{"::ffff:10.0.0.0/104 ams\r\n", "10.0.0.0/8=ams@1", ""},
		{"10.0.0.1/8 ams", "", `nets.txt:1: "10.0.0.1/8" has host bits set: did you mean 10.0.0.0/8?`},
		{"\n\n10.0.0.0 ams", "", `nets.txt:3: "10.0.0.0" is not a network`},
		{"10.0.0.0/8", "", `nets.txt:1: 10.0.0.0/8: name at least one datacenter`},
		{"10.0.0.0/8 a a", "", `nets.txt:1: "a" is listed twice`},
		{"fe80::/10%eth0 a", "", `nets.txt:1: "fe80::/10%eth0" is not a network`},
	}
	for _, tt := range tests {
		nets, err := ParseNets("nets.txt", []byte(tt.src))
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.src, err, tt.err)
			}
			continue
		}
		var got []string
		for _, n := range nets {
			got = append(got, n.Prefix.String()+"="+strings.Join(n.List, ",")+"@"+strconv.Itoa(n.Line))
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("%q: %v %v, want %s", tt.src, got, err, tt.want)
		}
	}
}

// FuzzParseNets: the parser never panics, and what it accepts compiles
// and reads back line for line.
func FuzzParseNets(f *testing.F) {
	testutil.AddSeeds(f, filepath.Join("..", "..", "testdata", "fuzz", "FuzzParseNets"))
	f.Fuzz(func(t *testing.T, src []byte) {
		nets, err := ParseNets("f", src)
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) || ge.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		m, err := Compile(&Spec{Default: []string{"dflt"}, Nets: nets})
		if err != nil {
			t.Fatalf("accepted nets do not compile: %v", err)
		}
		for _, n := range nets {
			if list, _ := m.Lookup(n.Prefix.Addr()); len(m.Lists()[list]) == 0 {
				t.Fatalf("%s: empty list", n.Prefix)
			}
		}
	})
}
