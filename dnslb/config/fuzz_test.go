package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// FuzzConfig: any file parses or fails with every error placed in it.
// Files named by the input (admin_token_file, ca_file) are read only when
// regular and only so far, so inputs naming /dev/zero are fine.
func FuzzConfig(f *testing.F) {
	testutil.AddSeeds(f, filepath.Join("..", "..", "testdata", "fuzz", "FuzzConfig"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("fuzz.toml", data)
		if err == nil {
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "fuzz.toml") {
				t.Fatalf("error line %q does not start with the file name; the whole error:\n%v", line, err)
			}
		}
	})
}
