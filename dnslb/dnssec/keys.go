// Package dnssec signs a zone's answers online: key files in BIND's format,
// RRSIGs made on demand and cached by RRset content, and compact denial of
// existence (RFC 9824). It knows nothing of pools or of the server.
package dnssec

import (
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Algorithms maps the config's algorithm names to DNSSEC algorithm numbers.
var Algorithms = map[string]uint8{
	"ecdsap256sha256": dns.ECDSAP256SHA256,
	"ed25519":         dns.ED25519,
}

// Key is one key pair of a zone, read from K<zone>+<alg>+<tag>.key and
// .private. dnslb uses every key as a combined signing key (flags 257).
type Key struct {
	DNSKEY *dns.DNSKEY
	Signer crypto.Signer
	File   string // the .key file
	// Activate and Inactive come from the .private file's BIND timing
	// metadata ("Activate: 20260101000000"); zero when absent. A key signs
	// from Activate (always, when absent) until Inactive; every key read is
	// published in the DNSKEY RRset.
	Activate, Inactive time.Time
}

// Active reports whether k signs at now.
func (k *Key) Active(now time.Time) bool {
	return (k.Activate.IsZero() || !now.Before(k.Activate)) && (k.Inactive.IsZero() || now.Before(k.Inactive))
}

// Tag is the key tag (RFC 4034 appendix B).
func (k *Key) Tag() uint16 { return k.DNSKEY.KeyTag() }

// LoadKeys reads the keys of zone (canonical) in dir. When dir has none, it
// creates one of algorithm alg, its private half readable only by its owner.
func LoadKeys(zone, dir string, alg uint8) ([]*Key, error) {
	keys, err := ReadKeys(zone, dir)
	if err != nil || len(keys) > 0 {
		return keys, err
	}
	k, err := NewKey(zone, dir, alg)
	if err != nil {
		return nil, err
	}
	return []*Key{k}, nil
}

// ReadKeys reads every K<zone>+*.key in dir with its .private file.
func ReadKeys(zone, dir string) ([]*Key, error) {
	pattern := filepath.Join(dir, "K"+strings.ToLower(zone)+"+*.key")
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("dnssec: %s: %w", pattern, err)
	}
	sort.Strings(files)
	var keys []*Key
	for _, f := range files {
		k, err := readKey(zone, f)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func readKey(zone, file string) (*Key, error) {
	pub, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("dnssec: %w", err)
	}
	rr, err := dns.ReadRR(bytes.NewReader(pub), file)
	if err != nil {
		return nil, fmt.Errorf("dnssec: %s: %w", file, err)
	}
	dk, ok := rr.(*dns.DNSKEY)
	if !ok {
		return nil, fmt.Errorf("dnssec: %s: holds a %s record, not a DNSKEY", file, dns.TypeToString[rr.Header().Rrtype])
	}
	if !strings.EqualFold(dk.Hdr.Name, zone) {
		return nil, fmt.Errorf("dnssec: %s: the key is for %s, not for zone %s", file, dk.Hdr.Name, zone)
	}
	dk.Hdr.Name = zone
	privFile := strings.TrimSuffix(file, ".key") + ".private"
	priv, err := os.ReadFile(privFile)
	if err != nil {
		return nil, fmt.Errorf("dnssec: %w", err)
	}
	p, err := dk.ReadPrivateKey(bytes.NewReader(priv), privFile)
	if err != nil {
		return nil, fmt.Errorf("dnssec: %s: %w", privFile, err)
	}
	signer, ok := p.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("dnssec: %s: the private key cannot sign", privFile)
	}
	k := &Key{DNSKEY: dk, Signer: signer, File: file}
	if k.Activate, err = timing(priv, "Activate"); err == nil {
		k.Inactive, err = timing(priv, "Inactive")
	}
	if err != nil {
		return nil, fmt.Errorf("dnssec: %s: %w", privFile, err)
	}
	return k, nil
}

// timing reads a BIND timing line ("Activate: 20260101120000") of a
// .private file; zero when absent.
func timing(priv []byte, field string) (time.Time, error) {
	sc := bufio.NewScanner(bytes.NewReader(priv))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), field) {
			continue
		}
		t, err := time.Parse("20060102150405", strings.TrimSpace(value))
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %q is not a time YYYYMMDDHHMMSS (UTC)", field, strings.TrimSpace(value))
		}
		return t, nil
	}
	return time.Time{}, nil
}

// NewKey creates a key pair for zone in dir (made if missing) and writes it
// in BIND's format: the .private file with mode 0600.
func NewKey(zone, dir string, alg uint8) (*Key, error) {
	bits := 256
	if alg == dns.ED25519 {
		bits = 256
	}
	dk := &dns.DNSKEY{
		Hdr:   dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: dns.ZONE | dns.SEP, Protocol: 3, Algorithm: alg,
	}
	p, err := dk.Generate(bits)
	if err != nil {
		return nil, fmt.Errorf("dnssec: new key for %s: %w", zone, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dnssec: %w", err)
	}
	base := filepath.Join(dir, fmt.Sprintf("K%s+%03d+%05d", zone, alg, dk.KeyTag()))
	now := time.Now().UTC().Format("20060102150405")
	priv := dk.PrivateKeyString(p) + "Created: " + now + "\nPublish: " + now + "\nActivate: " + now + "\n"
	if err := writeNew(base+".private", []byte(priv), 0o600); err != nil {
		return nil, err
	}
	pub := fmt.Sprintf("; This is a key-signing key, keyid %d, for %s\n; Created: %s\n%s\n", dk.KeyTag(), zone, now, dk.String())
	if err := writeNew(base+".key", []byte(pub), 0o644); err != nil {
		return nil, err
	}
	return &Key{DNSKEY: dk, Signer: p.(crypto.Signer), File: base + ".key"}, nil
}

// writeNew writes a file that must not exist yet, synced before it is used.
func writeNew(name string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("dnssec: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(fmt.Errorf("dnssec: %s: %w", name, err), os.Remove(name))
	}
	return nil
}
