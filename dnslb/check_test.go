package dnslb

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// TestZoneErrorsAtStartup: zone problems found while building refuse the
// config with the zone file's (or the config's) file and line.
func TestZoneErrorsAtStartup(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"c.toml": "[[zone]]\norigin = \"example.\"\nfile = \"example.zone\"\n" +
			"[[pool]]\nname = \"www.example.\"\nmembers = [{ address = \"192.0.2.1\" }]\n",
		"example.zone": "$ORIGIN example.\n@ 60 IN SOA ns1 hm 1 2 3 4 5\n@ 60 IN NS ns1\nwww 60 IN A 192.0.2.9\nbad 60 IN A 1.2.3\n",
	})
	err := Check(filepath.Join(dir, "c.toml"))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{"example.zone:5:", "example.zone:4: www.example. has A records in the zone and a pool for A"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error:\n%v\ndoes not contain %q", err, w)
		}
	}
}

// TestExampleConfigsValid: every config shipped in testdata (but the broken
// one) passes -check.
func TestExampleConfigsValid(t *testing.T) {
	paths, _ := filepath.Glob("../testdata/*.toml")
	more, _ := filepath.Glob("../testdata/*/dnslb.toml")
	for _, p := range append(paths, more...) {
		if strings.Contains(p, "/bad/") {
			continue
		}
		if err := Check(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if err := Check("../testdata/bad/dnslb.toml"); err == nil {
		t.Error("testdata/bad/dnslb.toml passes")
	}
}
