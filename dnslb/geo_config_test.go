package dnslb

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dnslb/dnslb/dnslb/geo/geotest"
)

// geoDB is the database of the geo tests: geotest's networks and one
// more in Asia over IPv6.
var geoDB = append(slices.Clip(geotest.Networks),
	geotest.Entry{Net: "2001:db8:300::/40", Continent: "AS", Country: "JP", Lat: 35.7, Lon: 139.7, Coord: true})

// writeGeoDB writes geoDB into dir as city.mmdb.
func writeGeoDB(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "city.mmdb")
	if err := geotest.Write(path, geoDB); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadmeGeoConfig: the README's three-datacenter config and its auto
// map pass -check, with a generated database in GeoLite2's place.
func TestReadmeGeoConfig(t *testing.T) {
	src, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(src)
	block := func(from, start string) string {
		i := strings.Index(readme, from)
		if i < 0 {
			t.Fatalf("README has no %q", from)
		}
		j := strings.Index(readme[i:], start) + i
		k := strings.Index(readme[j:], "```") + j
		return readme[j:k]
	}
	cfg := block("### A complete three-datacenter config", "[server]") + block("To order datacenters by distance", "[map.nearest]")
	dir := t.TempDir()
	db := writeGeoDB(t, dir)
	cfg = strings.NewReplacer("/var/lib/GeoIP/GeoLite2-City.mmdb", db, "/etc/dnslb/admin.token", filepath.Join(dir, "token"), "/var/lib/dnslb/", dir+"/").Replace(cfg)
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(strings.Repeat("x", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dnslb.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Check(filepath.Join(dir, "dnslb.toml")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfg, `policy      = "geo"`) || !strings.Contains(cfg, "auto     = true") {
		t.Fatal("the blocks read are not the geo config")
	}
}
