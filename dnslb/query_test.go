package dnslb

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestLower: lower maps exactly 'A'-'Z' to 'a'-'z' (RFC 4343), whatever
// the length and the bytes around them (length octets, bytes over 127,
// the neighbours of 'A' and 'Z'), as a byte at a time does.
func TestLower(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	edges := []byte{0, 1, 63, '@', 'A', 'M', 'Z', '[', '`', 'a', 'z', '{', 0x7f, 0x80, 0xc1, 0xda, 0xff}
	for n := range 80 {
		for range 200 {
			b := make([]byte, n)
			for i := range b {
				if rng.IntN(2) == 0 {
					b[i] = edges[rng.IntN(len(edges))]
				} else {
					b[i] = byte(rng.IntN(256))
				}
			}
			want := bytes.Clone(b)
			for i, c := range want {
				if c >= 'A' && c <= 'Z' {
					want[i] = c + 'a' - 'A'
				}
			}
			got := bytes.Clone(b)
			lower(got)
			if !bytes.Equal(got, want) {
				t.Fatalf("lower(% x) = % x, want % x", b, got, want)
			}
		}
	}
}
