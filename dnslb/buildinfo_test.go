package dnslb

import (
	"path/filepath"
	"testing"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// TestBuildInfo: dnslb_build_info carries the version and revision given.
func TestBuildInfo(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": poolConfig("127.0.0.1:0", "type = \"none\"", "all", []string{"192.0.2.1"}, "")})
	ts := start(t, filepath.Join(dir, "dnslb.toml"), Options{Version: "1.2.3", Revision: "0123abcd"})
	m := ts.scrape(t)
	if got := m["dnslb_build_info{revision=0123abcd,version=1.2.3}"]; got != 1 {
		t.Errorf("dnslb_build_info{revision=0123abcd,version=1.2.3} = %v, want 1; have %v", got, buildInfoKeys(m))
	}
}

func buildInfoKeys(m map[string]float64) []string {
	var out []string
	for k := range m {
		if len(k) > 16 && k[:16] == "dnslb_build_info" {
			out = append(out, k)
		}
	}
	return out
}
