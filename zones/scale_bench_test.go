package zones

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// writeBigZone writes a zone of about n records: every name an A record,
// one in four an AAAA, one in ten a TXT.
func writeBigZone(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "big.zone")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprint(w, "$ORIGIN big.example.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 604800 60\n@ IN NS ns1\nns1 IN A 192.0.2.1\n")
	for i, k := 0, 0; k < n; i++ {
		fmt.Fprintf(w, "h%d IN A 10.%d.%d.%d\n", i, i>>16&255, i>>8&255, i&255)
		k++
		if i%4 == 0 {
			fmt.Fprintf(w, "h%d IN AAAA 2001:db8::%x:%x\n", i, i>>16, i&0xffff)
			k++
		}
		if i%10 == 0 {
			fmt.Fprintf(w, "h%d IN TXT \"record %d\"\n", i, i)
			k++
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path
}

// BenchmarkLoad1M loads a zone of a million records (make bench; the
// comparison with Knot is testdata/bench/scale.sh).
func BenchmarkLoad1M(b *testing.B) {
	path := writeBigZone(b, 1_000_000)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		bl := NewBuilder("big.example.")
		bl.LoadFile(path)
		if _, err := bl.Build(); err != nil {
			b.Fatal(err)
		}
	}
}
