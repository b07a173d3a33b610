// Package cookie makes and checks DNS server cookies (RFC 7873) in the
// interoperable form of RFC 9018: version 1, a timestamp, and SipHash-2-4
// of the client cookie, that header and the client's address under a
// 16-byte secret. Instances that share the secret accept each other's
// cookies, whatever implementation made them (Knot, BIND, PowerDNS and
// NSD make the same ones).
package cookie

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"github.com/dchest/siphash"
)

// Sizes on the wire (RFC 7873 §4, RFC 9018 §4).
const (
	ClientLen = 8
	ServerLen = 16 // the RFC 9018 server cookie we make
	minServer = 8  // what RFC 7873 allows others to make
	maxServer = 32
	SecretLen = 16
	version   = 1
	// A cookie is valid for an hour after its timestamp and up to five
	// minutes before it (clocks of an anycast set differ a little).
	maxAge    = 3600
	maxFuture = 300
)

// Secret keys SipHash-2-4.
type Secret [SecretLen]byte

// Secrets holds the secret cookies are made with and, during a rotation,
// the previous one, still accepted.
type Secrets struct {
	Current  Secret
	Previous Secret
	HasPrev  bool
}

// Parse splits a COOKIE option's data: a client cookie alone, or followed
// by a server cookie of 8 to 32 bytes. ok is false for any other length,
// which RFC 7873 §5.2.2 answers with FORMERR.
func Parse(data []byte) (client, server []byte, ok bool) {
	switch n := len(data); {
	case n == ClientLen:
		return data, nil, true
	case n >= ClientLen+minServer && n <= ClientLen+maxServer:
		return data[:ClientLen], data[ClientLen:], true
	}
	return nil, nil, false
}

// Make writes into dst the server cookie for client (8 bytes) from addr at
// now (unix seconds), made with the current secret.
func (s *Secrets) Make(dst *[ServerLen]byte, client []byte, addr netip.Addr, now uint32) {
	dst[0], dst[1], dst[2], dst[3] = version, 0, 0, 0
	binary.BigEndian.PutUint32(dst[4:], now)
	binary.LittleEndian.PutUint64(dst[8:], sum(&s.Current, client, dst[:8], addr))
}

// Valid reports whether server is a cookie one of the secrets made for
// client and addr, and is neither older than an hour nor more than five
// minutes ahead of now (serial arithmetic, RFC 9018 §4.3).
func (s *Secrets) Valid(client, server []byte, addr netip.Addr, now uint32) bool {
	if len(client) != ClientLen || len(server) != ServerLen || server[0] != version {
		return false
	}
	ts := binary.BigEndian.Uint32(server[4:])
	if age := int32(now - ts); age > maxAge || age < -maxFuture {
		return false
	}
	h := binary.LittleEndian.Uint64(server[8:])
	if sum(&s.Current, client, server[:8], addr) == h {
		return true
	}
	return s.HasPrev && sum(&s.Previous, client, server[:8], addr) == h
}

// sum is SipHash-2-4 of client | version, reserved, timestamp | address.
func sum(k *Secret, client, head []byte, addr netip.Addr) uint64 {
	var buf [ClientLen + 8 + 16]byte
	n := copy(buf[:], client)
	n += copy(buf[n:], head)
	if addr.Is4() || addr.Is4In6() {
		a := addr.Unmap().As4()
		n += copy(buf[n:], a[:])
	} else {
		a := addr.As16()
		n += copy(buf[n:], a[:])
	}
	return siphash.Hash(binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:]), buf[:n])
}

// ParseSecrets reads a secret file: one or two secrets of 16 bytes written
// as 32 hex digits, one a line, the current first and the previous (still
// accepted) second. Blank lines and lines starting with # are skipped.
func ParseSecrets(text string) (Secrets, error) {
	var s Secrets
	n := 0
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil || len(b) != SecretLen {
			return Secrets{}, fmt.Errorf("line %d: a secret is 32 hex digits (16 bytes), e.g. from: head -c 16 /dev/urandom | xxd -p", i+1)
		}
		switch n {
		case 0:
			copy(s.Current[:], b)
		case 1:
			copy(s.Previous[:], b)
			s.HasPrev = true
		default:
			return Secrets{}, fmt.Errorf("line %d: at most two secrets: the current one, then the previous one", i+1)
		}
		n++
	}
	if n == 0 {
		return Secrets{}, fmt.Errorf("no secret: write 32 hex digits (16 bytes), e.g. from: head -c 16 /dev/urandom | xxd -p")
	}
	return s, nil
}
