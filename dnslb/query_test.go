package dnslb

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestLower: lowerInto maps exactly 'A'-'Z' to 'a'-'z' (RFC 4343),
// whatever the length and the bytes around them (length octets, bytes over
// 127, the neighbours of 'A' and 'Z'), as a byte at a time does; plain
// tells the lowercase hostname bytes from every other.
func TestLower(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	edges := []byte{0, 1, 63, '@', 'A', 'M', 'Z', '[', '`', 'a', 'z', '{', 0x7f, 0x80, 0xc1, 0xda, 0xff, '-', '_', '.', ',', '/', '0', '9', ':', 0xad, 0xdf, 0xb0, 0xe1}
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
			got := lowerInto(make([]byte, 1, 1+n), b)
			if got[0] != 0 || !bytes.Equal(got[1:], want) {
				t.Fatalf("lowerInto(% x) = % x, want % x", b, got[1:], want)
			}
			odd := false
			for _, c := range want {
				odd = odd || !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_')
			}
			if plain(want) == odd {
				t.Fatalf("plain(% x) = %v", want, !odd)
			}
		}
	}
	// Hostname labels, with one other byte or none.
	const hostname = "abcdefghijklmnopqrstuvwxyz0123456789-_"
	for n := 1; n < 64; n++ {
		for range 200 {
			b := make([]byte, n)
			for i := range b {
				b[i] = hostname[rng.IntN(len(hostname))]
			}
			want := true
			if rng.IntN(2) == 0 {
				c := byte(rng.IntN(256))
				b[rng.IntN(n)] = c
				want = strings.IndexByte(hostname, c) >= 0
			}
			if plain(b) != want {
				t.Fatalf("plain(%q) = %v", b, !want)
			}
		}
	}
}
