package dnssec

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func aSet(owner string, addrs ...string) []dns.RR {
	var out []dns.RR
	for _, a := range addrs {
		out = append(out, &dns.A{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.ParseIP(a)})
	}
	return out
}

// TestKeysCreatedOnceAndRead: a key is created when there is none, with a
// private file only its owner reads; it is read back the same, and no
// second key is made.
func TestKeysCreatedOnceAndRead(t *testing.T) {
	for _, alg := range []uint8{dns.ECDSAP256SHA256, dns.ED25519} {
		dir := filepath.Join(t.TempDir(), "keys")
		keys, err := LoadKeys("z.example.", dir, alg)
		if err != nil || len(keys) != 1 {
			t.Fatalf("LoadKeys: %v %v", keys, err)
		}
		st, err := os.Stat(strings.TrimSuffix(keys[0].File, ".key") + ".private")
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("private file: %v %v", st, err)
		}
		again, err := LoadKeys("z.example.", dir, alg)
		if err != nil || len(again) != 1 || again[0].DNSKEY.String() != keys[0].DNSKEY.String() {
			t.Fatalf("read back %v %v", again, err)
		}
		if again[0].Activate.IsZero() || !again[0].Active(time.Now()) {
			t.Errorf("created key not active: %v", again[0].Activate)
		}
		// The key read back signs what the created key verifies.
		s := NewSigner("z.example.", again, 0)
		set := aSet("www.z.example.", "192.0.2.1")
		sig, err := s.Sign(set, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := sig.RRSIGs[0].Verify(keys[0].DNSKEY, set); err != nil {
			t.Errorf("alg %d: %v", alg, err)
		}
	}
}

// TestKeyTiming: a key whose Activate lies ahead is published, not used;
// a bad time is an error naming the file.
func TestKeyTiming(t *testing.T) {
	dir := t.TempDir()
	k, err := NewKey("z.example.", dir, dns.ECDSAP256SHA256)
	if err != nil {
		t.Fatal(err)
	}
	priv := strings.TrimSuffix(k.File, ".key") + ".private"
	b, _ := os.ReadFile(priv)
	future := time.Now().Add(48 * time.Hour).UTC()
	text := strings.Replace(string(b), "Activate: ", "Activate: "+future.Format("20060102150405")+"\nX: ", 1)
	if err := os.WriteFile(priv, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := ReadKeys("z.example.", dir)
	if err != nil || len(keys) != 1 {
		t.Fatal(keys, err)
	}
	if keys[0].Active(time.Now()) || !keys[0].Active(future.Add(time.Second)) {
		t.Errorf("activate %v", keys[0].Activate)
	}
	if _, err := NewSigner("z.example.", keys, 0).Sign(aSet("a.z.example.", "192.0.2.1"), time.Now()); err == nil {
		t.Error("signed with no active key")
	}
	if err := os.WriteFile(priv, []byte(string(b)+"Inactive: tomorrow\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeys("z.example.", dir); err == nil || !strings.Contains(err.Error(), priv) || !strings.Contains(err.Error(), "YYYYMMDDHHMMSS") {
		t.Errorf("bad time: %v", err)
	}
	if _, err := ReadKeys("other.example.", dir); err != nil {
		t.Errorf("another zone's keys: %v", err)
	}
}

// TestSignatureCache: the same members in another order share a
// signature; another set, TTL or owner does not; a signature is replaced
// once less than Refresh of its validity is left; inception is backdated.
func TestSignatureCache(t *testing.T) {
	keys, err := LoadKeys("z.example.", t.TempDir(), dns.ECDSAP256SHA256)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSigner("z.example.", keys, 0)
	now := time.Unix(1_800_000_000, 0)
	a, _ := s.Sign(aSet("www.z.example.", "192.0.2.1", "192.0.2.2"), now)
	b, _ := s.Sign(aSet("www.z.example.", "192.0.2.2", "192.0.2.1"), now.Add(time.Hour))
	if a != b || s.Signed() != 1 {
		t.Errorf("reordered set signed again (%d signed)", s.Signed())
	}
	if r := a.RRSIGs[0]; r.Inception != uint32(now.Add(-Backdate).Unix()) || r.Expiration != uint32(now.Add(Validity).Unix()) {
		t.Errorf("validity %d..%d", r.Inception, r.Expiration)
	}
	for _, set := range [][]dns.RR{aSet("www.z.example.", "192.0.2.1"), aSet("api.z.example.", "192.0.2.1", "192.0.2.2")} {
		if c, _ := s.Sign(set, now); c == a {
			t.Errorf("%v shares a signature", set)
		}
	}
	if c, _ := s.Sign(aSet("www.z.example.", "192.0.2.1", "192.0.2.2"), now.Add(Validity-Refresh-time.Second)); c != a {
		t.Error("re-signed before the refresh point")
	}
	c, _ := s.Sign(aSet("www.z.example.", "192.0.2.1", "192.0.2.2"), now.Add(Validity-Refresh))
	if c == a || c.RRSIGs[0].Expiration <= a.RRSIGs[0].Expiration {
		t.Error("not re-signed at the refresh point")
	}
}

// TestSignatureCacheBounded: entries stay within the size given.
func TestSignatureCacheBounded(t *testing.T) {
	keys, _ := LoadKeys("z.example.", t.TempDir(), dns.ED25519)
	s := NewSigner("z.example.", keys, 100)
	now := time.Now()
	for i := range 1000 {
		if _, err := s.Sign(aSet("www.z.example.", net.IPv4(192, 0, byte(i>>8), byte(i)).String()), now); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.cur) + len(s.prev); n > 102 {
		t.Errorf("%d signatures kept, bound 100", n)
	}
	// A recent one is still there.
	before := s.Signed()
	s.Sign(aSet("www.z.example.", net.IPv4(192, 0, 3, 231).String()), now)
	if s.Signed() != before {
		t.Error("the latest signature was evicted")
	}
}

// TestCover: the covering NSEC's owner sorts before the name and its next
// name after every name at or below it, within the parent.
func TestCover(t *testing.T) {
	for _, name := range []string{"b.wild.z.example.", "a.wild.z.example.", "[.z.example.", `a\000.z.example.`, `\000a.z.example.`, "zz.z.example.", strings.Repeat("x", 63) + ".z.example."} {
		n := Cover(name, 60)
		below := "deep." + name
		if !less(n.Hdr.Name, name) || !less(name, n.NextDomain) || !less(below, n.NextDomain) {
			t.Errorf("%s: %s … %s does not cover it and its subtree", name, n.Hdr.Name, n.NextDomain)
		}
		parent := name[strings.Index(name, ".")+1:]
		if !dns.IsSubDomain(parent, n.Hdr.Name) || !dns.IsSubDomain(parent, n.NextDomain) {
			t.Errorf("%s: left the parent: %s %s", name, n.Hdr.Name, n.NextDomain)
		}
	}
	if n := Cover(`\000.z.example.`, 60); n != nil {
		t.Errorf("nothing precedes \\000.z.example. in its parent, yet %v", n)
	}
	if n := NSEC("x.z.example.", []uint16{dns.TypeA, TypeNXNAME}, 60); n.NextDomain != `\000.x.z.example.` || len(n.TypeBitMap) != 4 {
		t.Errorf("%v", n)
	}
}

// less is canonical DNS name order (RFC 4034 §6.1) on wire labels.
func less(a, b string) bool {
	wa, wb := labels(a), labels(b)
	for i := 1; i <= min(len(wa), len(wb)); i++ {
		x, y := wa[len(wa)-i], wb[len(wb)-i]
		if x != y {
			return x < y
		}
	}
	return len(wa) < len(wb)
}

func labels(name string) []string {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		panic(err)
	}
	var out []string
	for off := 0; off < n && buf[off] != 0; off += 1 + int(buf[off]) {
		out = append(out, strings.ToLower(string(buf[off+1:off+1+int(buf[off])])))
	}
	return out
}
