package dnslb

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePoolsConfig writes a config of n pools of four health-checked
// members each, in one zone.
func writePoolsConfig(b *testing.B, n int) string {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("[server]\nlisten = [\"127.0.0.1:0\"]\nhttp = \"\"\n[log]\nlevel = \"warn\"\n")
	sb.WriteString("[[zone]]\norigin = \"pools.example.\"\nrecords = [\"@ 30 IN SOA ns1 hm 1 2 3 4 5\", \"@ 30 IN NS ns1\", \"ns1 30 IN A 192.0.2.1\"]\n")
	sb.WriteString("[check.web]\ntype = \"tcp\"\nport = 9\ninterval = \"10s\"\ntimeout = \"1s\"\n")
	for i := range n {
		a, c := 100+(i/250)%100, i%250
		fmt.Fprintf(&sb, "[[pool]]\nname = \"p%d.pools.example.\"\npolicy = \"weighted\"\ncheck = \"web\"\nmembers = [{ address = \"127.%d.%d.1\" }, { address = \"127.%d.%d.2\" }, { address = \"127.%d.%d.3\" }, { address = \"127.%d.%d.4\" }]\n", i, a, c, a, c, a, c, a, c)
	}
	path := filepath.Join(b.TempDir(), "dnslb.toml")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkReload10kPools: one reload of a config of 10,000 pools (40,000
// health targets, all kept), in a server that is not serving.
func BenchmarkReload10kPools(b *testing.B) {
	srv, err := New(writePoolsConfig(b, 10000), Options{Logger: discardLogger})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.closeListeners()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := srv.Reload(); err != nil {
			b.Fatal(err)
		}
	}
}
