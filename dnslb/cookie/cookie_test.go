package cookie

import (
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 9018 Appendix A.1: the server cookie of the worked example.
func TestMakeRFC9018Vector(t *testing.T) {
	var s Secrets
	copy(s.Current[:], mustHex(t, "e5e973e5a6b2a43f48e7dc849e37bfcf"))
	client := mustHex(t, "2464c4abcf10c957")
	addr := netip.MustParseAddr("198.51.100.100")
	var got [ServerLen]byte
	s.Make(&got, client, addr, 1559731985)
	if want := "010000005cf79f111f8130c3eee29480"; hex.EncodeToString(got[:]) != want {
		t.Fatalf("server cookie %x, want %s", got, want)
	}
	if !s.Valid(client, got[:], addr, 1559731985+10) {
		t.Fatal("own cookie not valid")
	}
}

func TestValid(t *testing.T) {
	var cur, prev, other Secrets
	copy(cur.Current[:], mustHex(t, "00112233445566778899aabbccddeeff"))
	copy(prev.Current[:], mustHex(t, "ffeeddccbbaa99887766554433221100"))
	copy(other.Current[:], mustHex(t, "0123456789abcdef0123456789abcdef"))
	rotated := Secrets{Current: cur.Current, Previous: prev.Current, HasPrev: true}
	client := mustHex(t, "0102030405060708")
	a4 := netip.MustParseAddr("192.0.2.1")
	a6 := netip.MustParseAddr("2001:db8::1")
	const now = 1_700_000_000
	make := func(s Secrets, addr netip.Addr, at uint32) []byte {
		var c [ServerLen]byte
		s.Make(&c, client, addr, at)
		return c[:]
	}
	for _, tc := range []struct {
		name   string
		s      Secrets
		server []byte
		addr   netip.Addr
		want   bool
	}{
		{"own", cur, make(cur, a4, now), a4, true},
		{"own v6", cur, make(cur, a6, now), a6, true},
		{"v4-mapped source", cur, make(cur, a4, now), netip.AddrFrom16(a4.As16()), true},
		{"other address", cur, make(cur, a4, now), netip.MustParseAddr("192.0.2.2"), false},
		{"other secret", cur, make(other, a4, now), a4, false},
		{"previous without rotation", cur, make(prev, a4, now), a4, false},
		{"previous during rotation", rotated, make(prev, a4, now), a4, true},
		{"current during rotation", rotated, make(cur, a4, now), a4, true},
		{"59 minutes old", cur, make(cur, a4, now-59*60), a4, true},
		{"61 minutes old", cur, make(cur, a4, now-61*60), a4, false},
		{"4 minutes ahead", cur, make(cur, a4, now+4*60), a4, true},
		{"6 minutes ahead", cur, make(cur, a4, now+6*60), a4, false},
		{"wrong version", cur, append([]byte{2}, make(cur, a4, now)[1:]...), a4, false},
		{"short", cur, make(cur, a4, now)[:8], a4, false},
	} {
		if got := tc.s.Valid(client, tc.server, tc.addr, now); got != tc.want {
			t.Errorf("%s: valid %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	for n := 0; n <= 48; n++ {
		_, _, ok := Parse(make([]byte, n))
		want := n == 8 || (n >= 16 && n <= 40)
		if ok != want {
			t.Errorf("length %d: ok %v, want %v", n, ok, want)
		}
	}
}

func TestParseSecrets(t *testing.T) {
	for _, tc := range []struct {
		text, err string
		prev      bool
	}{
		{"00112233445566778899aabbccddeeff\n", "", false},
		{"# rotated 2026-11-27\n00112233445566778899aabbccddeeff\n\nffeeddccbbaa99887766554433221100\n", "", true},
		{"", "no secret: write 32 hex digits (16 bytes), e.g. from: head -c 16 /dev/urandom | xxd -p", false},
		{"0011\n", "line 1: a secret is 32 hex digits (16 bytes), e.g. from: head -c 16 /dev/urandom | xxd -p", false},
		{"00112233445566778899aabbccddeeff\n00112233445566778899aabbccddeeff\n00112233445566778899aabbccddeeff\n", "line 3: at most two secrets: the current one, then the previous one", false},
	} {
		s, err := ParseSecrets(tc.text)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: err %v, want %s", tc.text, err, tc.err)
			}
			continue
		}
		if err != nil || s.HasPrev != tc.prev {
			t.Errorf("%q: %+v, %v", tc.text, s, err)
		}
	}
}

// FuzzCookie (seeds in ../../testdata/fuzz/FuzzCookie/): any option data either parses into the lengths RFC 7873
// allows or is refused, and checking it never panics.
func FuzzCookie(f *testing.F) {
	testutil.AddSeeds(f, filepath.Join("..", "..", "testdata", "fuzz", "FuzzCookie"))
	var s Secrets
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server, ok := Parse(data)
		if !ok {
			return
		}
		if len(client) != ClientLen || (server != nil && (len(server) < 8 || len(server) > 32)) {
			t.Fatalf("parsed %d+%d bytes", len(client), len(server))
		}
		s.Valid(client, server, netip.MustParseAddr("192.0.2.1"), 1)
	})
}
