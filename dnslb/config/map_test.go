package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnslb/dnslb/dnslb/geo/geotest"
)

// TestGeoConfigErrors: mistakes of maps and geo pools are reported at
// their file and line, databases and nets files included.
func TestGeoConfigErrors(t *testing.T) {
	dir := t.TempDir()
	if err := geotest.Write(filepath.Join(dir, "city.mmdb"), []geotest.Entry{{Net: "81.2.69.0/24", Continent: "EU", Country: "GB"}}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "corrupt.mmdb"), []byte("\xab\xcd\xefMaxMind.com but not really"), 0o644)
	os.WriteFile(filepath.Join(dir, "nets.txt"), []byte("# ok\n10.0.0.0/8 ams\n10.0.0.1/8 ams\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "nets6.txt"), []byte("2001:db8::/32 ams\n2001:0:4136::/48 ams\n"), 0o644)
	pool := func(keys, members string) string {
		return minimalZone + "[[pool]]\nname = \"www.example.\"\npolicy = \"geo\"\n" + keys + "members = [\n" + members + "]\n"
	}
	ams := "  { address = \"192.0.2.1\", datacenter = \"ams\" },\n"
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"missing database", "[map.w]\ngeoip_db = \"nope.mmdb\"\ndefault = [\"ams\"]\n" + pool("map = \"w\"\n", ams),
			[]string{"c.toml:2: map.w.geoip_db: " + filepath.Join(dir, "nope.mmdb") + " does not exist"}},
		{"corrupt database", "[map.w]\ngeoip_db = \"corrupt.mmdb\"\ndefault = [\"ams\"]\n" + pool("map = \"w\"\n", ams),
			[]string{"c.toml:2: map.w.geoip_db: " + filepath.Join(dir, "corrupt.mmdb") + " is not a valid MaxMind DB"}},
		{"datacenter no map entry names", "[map.w]\ndefault = [\"ams\"]\n" + pool("map = \"w\"\n", ams+"  { address = \"192.0.2.2\", datacenter = \"lhr\" },\n"),
			[]string{`c.toml:13: pool[0].members[1].datacenter: "lhr" is named by no entry of map w (it names ams)`}},
		{"map names none of the pool's", "[map.w]\ndefault = [\"iad\"]\n" + pool("map = \"w\"\n", ams),
			[]string{`c.toml:10: pool[0].map: map w names none of this pool's datacenters`, `c.toml:12: pool[0].members[0].datacenter: "ams" is named by no entry`}},
		{"no map", pool("", ams), []string{`c.toml:5: pool[0]: a geo pool needs a map`}},
		{"unknown map", pool("map = \"w\"\n", ams), []string{`c.toml:8: pool[0].map: no [map.w] is defined: add a [map.NAME] table`}},
		{"member without datacenter", "[map.w]\ndefault = [\"ams\"]\n" + pool("map = \"w\"\n", "  { address = \"192.0.2.1\" },\n"),
			[]string{`c.toml:12: pool[0].members[0]: a member of a geo pool needs its datacenter`}},
		{"within", "[map.w]\ndefault = [\"ams\"]\n" + pool("map = \"w\"\nwithin = \"geo\"\n", ams), []string{`c.toml:11: pool[0].within: "geo": use one of round_robin, weighted`}},
		{"datacenter outside geo", minimalZone + "[[pool]]\nname = \"www.example.\"\nmap = \"w\"\nmembers = [{ address = \"192.0.2.1\", datacenter = \"ams\" }]\n",
			[]string{`c.toml:7: pool[0].map: only pools of policy "geo" use a map`, `c.toml:8: pool[0].members[0].datacenter: only members of a pool of policy "geo"`}},
		{"bad location and net", "[map.w]\ngeoip_db = \"city.mmdb\"\ndefault = [\"ams\"]\n[map.w.locations]\n\"EU/UK/x/y/z\" = [\"ams\"]\n[map.w.nets]\n\"10.0.0.1/8\" = [\"ams\"]\n\"10.0.0.0/9\" = []\n" + pool("map = \"w\"\n", ams),
			[]string{`c.toml:5: map.w.locations.EU/UK/x/y/z: use at most CONTINENT/COUNTRY/SUBDIVISION/CITY`, `c.toml:7: map.w.nets.10.0.0.1/8: "10.0.0.1/8" has host bits set`}},
		{"nets inside 6to4", "[map.w]\ndefault = [\"ams\"]\nnets_file = \"nets6.txt\"\n[map.w.nets]\n\"2002:a00::/24\" = [\"ams\"]\n" + pool("map = \"w\"\n", ams),
			[]string{`c.toml:5: map.w.nets.2002:a00::/24: 2002:a00::/24 lies in 6to4 2002::/16, whose clients are located by the IPv4 address they embed`,
				"c.toml:3: map.w.nets_file: " + filepath.Join(dir, "nets6.txt") + ":2: 2001:0:4136::/48 lies in Teredo 2001::/32"}},
		{"empty net list", "[map.w]\ndefault = [\"ams\"]\n[map.w.nets]\n\"10.0.0.0/9\" = []\n" + pool("map = \"w\"\n", ams),
			[]string{`c.toml:4: map.w.nets.10.0.0.0/9: name at least one datacenter`}},
		{"nets file", "[map.w]\ndefault = [\"ams\"]\nnets_file = \"nets.txt\"\n" + pool("map = \"w\"\n", ams),
			[]string{"c.toml:3: map.w.nets_file: " + filepath.Join(dir, "nets.txt") + `:3: "10.0.0.1/8" has host bits set`}},
		{"nets file not a file", "[map.w]\ndefault = [\"ams\"]\nnets_file = \"/dev/zero\"\n" + pool("map = \"w\"\n", ams),
			[]string{`c.toml:3: map.w.nets_file: /dev/zero is not a regular file`}},
		{"database not a file", "[map.w]\ngeoip_db = \"/dev/zero\"\ndefault = [\"ams\"]\n" + pool("map = \"w\"\n", ams),
			[]string{`c.toml:2: map.w.geoip_db: /dev/zero is not a regular file`}},
		{"missing nets file", "[map.w]\ndefault = [\"ams\"]\nnets_file = \"none.txt\"\n" + pool("map = \"w\"\n", ams),
			[]string{`c.toml:3: map.w.nets_file: ` + filepath.Join(dir, "none.txt") + ` cannot be read: no such file or directory`}},
		{"coordinates", "[map.w]\ngeoip_db = \"city.mmdb\"\ndefault = [\"ams\"]\nauto = true\n[map.w.coordinates]\nams = [52.4]\n" + pool("map = \"w\"\n", ams),
			[]string{`c.toml:6: map.w.coordinates.ams: write [latitude, longitude]`}},
		{"watermarks need least_load within", "[map.w]\ndefault = [\"ams\"]\n" + pool("map = \"w\"\nload_low = 1\nload_high = 2\n", ams),
			[]string{`c.toml:11: pool[0].load_low: in a geo pool only within = "least_load" uses load_low and load_high`}},
		{"unknown map key", "[map.w]\ndefault = [\"ams\"]\ngeoip_bd = \"x\"\n" + pool("map = \"w\"\n", ams),
			[]string{`c.toml:3: unknown key "map.w.geoip_bd" (did you mean "geoip_db"?)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(filepath.Join(dir, "c.toml"), []byte(tc.toml))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := strings.ReplaceAll(err.Error(), filepath.Join(dir, "c.toml"), "c.toml")
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error:\n%v\ndoes not contain %q", msg, w)
				}
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "c.toml:") {
					t.Errorf("error line %q is not placed in the config", line)
				}
			}
		})
	}
}

// TestGeoWithinLeastLoad: a geo pool's within may be least_load with its
// watermarks.
func TestGeoWithinLeastLoad(t *testing.T) {
	src := minimalZone + "[map.w]\ndefault = [\"ams\"]\n[[pool]]\nname = \"www.example.\"\npolicy = \"geo\"\nmap = \"w\"\nwithin = \"least_load\"\nload_low = 1\nload_high = 2\n" +
		"members = [{ address = \"192.0.2.1\", datacenter = \"ams\" }]\n"
	c, err := Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Pools[0]; p.Within != LeastLoad || p.Shed == nil || p.Shed.High != 2 {
		t.Errorf("within %q, watermarks %+v", p.Within, p.Shed)
	}
}

// TestGeoReloadReuse: Reload keeps the previous compiled map when its
// spec, nets file and database file are unchanged, and compiles again
// when any of them changed (the database by identity, size and time).
func TestGeoReloadReuse(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "city.mmdb")
	entries := []geotest.Entry{{Net: "81.2.69.0/24", Continent: "EU", Country: "GB"}}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := geotest.Write(db, entries); err != nil {
		t.Fatal(err)
	}
	cfg := func(dflt string) string {
		return minimalZone + "[map.w]\ngeoip_db = \"city.mmdb\"\ndefault = [" + dflt + "]\nnets_file = \"nets.txt\"\n[map.w.locations]\n\"EU\" = [\"ams\"]\n" +
			"[[pool]]\nname = \"www.example.\"\npolicy = \"geo\"\nmap = \"w\"\nmembers = [{ address = \"192.0.2.1\", datacenter = \"ams\" }]\n"
	}
	write("c.toml", cfg(`"ams"`))
	write("nets.txt", "10.0.0.0/8 ams\n")
	path := filepath.Join(dir, "c.toml")
	prev, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	tests := []struct {
		name   string
		change func()
		reuse  bool
	}{
		{"nothing", func() {}, true},
		{"another part of the config", func() { write("c.toml", cfg(`"ams"`)+"# a comment\n") }, true},
		{"the database's time", func() { os.Chtimes(db, later, later) }, false},
		{"the database replaced", func() {
			if err := geotest.Write(filepath.Join(dir, "new.mmdb"), entries); err != nil {
				t.Fatal(err)
			}
			os.Rename(filepath.Join(dir, "new.mmdb"), db)
		}, false},
		{"the nets file", func() { write("nets.txt", "10.0.0.0/8 ams\n11.0.0.0/8 ams\n") }, false},
		{"the nets file's lines", func() { write("nets.txt", "# now one line down\n10.0.0.0/8 ams\n11.0.0.0/8 ams\n") }, false},
		{"the map's keys", func() { write("c.toml", cfg(`"ams", "iad"`)) }, false},
		{"nothing again", func() {}, true},
	}
	for _, tc := range tests {
		tc.change()
		c, err := Reload(path, Host{}, prev)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c.Maps["w"].Geo == prev.Maps["w"].Geo; got != tc.reuse {
			t.Errorf("%s changed: map reused %v, want %v", tc.name, got, tc.reuse)
		}
		prev = c
	}
}
