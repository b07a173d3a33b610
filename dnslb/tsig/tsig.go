// Package tsig is the key table of RFC 8945 transaction signatures: keys
// named in [tsig.NAME], their secrets read from files, verification and
// signing through miekg/dns (which owns the HMAC and the wire format), and
// the mapping of its errors onto the TSIG error codes a response carries.
// Updates (RFC 2136) and zone transfers use the same table.
package tsig

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Fudge is the time window, in seconds, our signatures allow (RFC 8945 §10
// recommends 300).
const Fudge = 300

// minSecret is the shortest secret accepted, in bytes: tsig-keygen and
// knsupdate make secrets as long as the hash; a few bytes would be guessable.
const minSecret = 16

// Algorithms maps the names written in a config to miekg/dns's.
var Algorithms = map[string]string{
	"hmac-sha256": dns.HmacSHA256,
	"hmac-sha384": dns.HmacSHA384,
	"hmac-sha512": dns.HmacSHA512,
	"hmac-sha1":   dns.HmacSHA1,
}

// DefaultAlgorithm is used when a key names none.
const DefaultAlgorithm = "hmac-sha256"

// Key is one TSIG key.
type Key struct {
	Name      string // lowercase, fully qualified (the TSIG owner name)
	Algorithm string // miekg/dns form, e.g. "hmac-sha256."
	secret    string // base64, as miekg/dns takes it
}

// AlgorithmName returns the algorithm as written in a config, e.g. "hmac-sha256".
func (k *Key) AlgorithmName() string { return strings.TrimSuffix(k.Algorithm, ".") }

// Secret returns the key's secret in base64.
func (k *Key) Secret() string { return k.secret }

// NewKey checks and makes a key. algorithm is a config name ("" for the
// default); secret is base64.
func NewKey(name, algorithm, secret string) (*Key, error) {
	if _, ok := dns.IsDomainName(name); !ok || name == "" {
		return nil, fmt.Errorf("%q is not a domain name", name)
	}
	if algorithm == "" {
		algorithm = DefaultAlgorithm
	}
	alg, ok := Algorithms[strings.ToLower(strings.TrimSuffix(algorithm, "."))]
	if !ok {
		return nil, fmt.Errorf("algorithm %q: use one of %s", algorithm, strings.Join(algorithmNames(), ", "))
	}
	raw, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		return nil, fmt.Errorf("the secret is not base64 (make one with dnslb -tsig-keygen NAME)")
	}
	if len(raw) < minSecret {
		return nil, fmt.Errorf("the secret is %d bytes long: use at least %d (make one with dnslb -tsig-keygen NAME)", len(raw), minSecret)
	}
	return &Key{Name: dns.CanonicalName(name), Algorithm: alg, secret: secret}, nil
}

func algorithmNames() []string {
	var out []string
	for n := range Algorithms {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ReadSecret returns the base64 secret on the first line of path. Only a
// regular file is read, and only its first 4 KiB: a device or a FIFO
// named by mistake must neither hang nor exhaust the server.
func ReadSecret(path string) (string, error) {
	if st, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("tsig: %w", err)
	} else if !st.Mode().IsRegular() {
		return "", fmt.Errorf("tsig: %s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("tsig: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("tsig: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return "", fmt.Errorf("tsig: %s: the first line is empty: write the base64 secret there", path)
	}
	return line, nil
}

// Keyring is a set of keys by name. It is immutable once built and
// implements dns.TsigProvider.
type Keyring struct {
	keys map[string]*Key
}

// NewKeyring groups keys; two keys with the same name are an error.
func NewKeyring(keys ...*Key) (*Keyring, error) {
	r := &Keyring{keys: make(map[string]*Key, len(keys))}
	for _, k := range keys {
		if r.keys[k.Name] != nil {
			return nil, fmt.Errorf("tsig: key %s is defined twice", k.Name)
		}
		r.keys[k.Name] = k
	}
	return r, nil
}

// Key returns the key named name (any case), or nil.
func (r *Keyring) Key(name string) *Key {
	if r == nil {
		return nil
	}
	return r.keys[dns.CanonicalName(name)]
}

// Names returns the keys' names as written in a config (no final dot).
func (r *Keyring) Names() []string {
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.keys))
	for n := range r.keys {
		out = append(out, strings.TrimSuffix(n, "."))
	}
	sort.Strings(out)
	return out
}

// Len returns the number of keys.
func (r *Keyring) Len() int {
	if r == nil {
		return 0
	}
	return len(r.keys)
}

// Result is what verifying a signed request found.
type Result struct {
	TSIG  *dns.TSIG // the request's TSIG record
	Key   *Key      // nil when unknown
	Error uint16    // TSIG error for the response: 0, dns.RcodeBadKey, dns.RcodeBadSig or dns.RcodeBadTime
}

// Verify checks the TSIG of msg (wire form), whose parsed form is m. It
// returns a Result whose Error is the RFC 8945 §5.2 code to answer with;
// a message without TSIG gives nil.
func (r *Keyring) Verify(msg []byte, m *dns.Msg) *Result {
	t := m.IsTsig()
	if t == nil {
		return nil
	}
	res := &Result{TSIG: t, Key: r.Key(t.Hdr.Name)}
	if res.Key == nil || dns.CanonicalName(t.Algorithm) != res.Key.Algorithm {
		res.Error = dns.RcodeBadKey
		return res
	}
	// miekg/dns's TsigVerify picks the HMAC by the message's algorithm,
	// which was just checked to be the key's.
	switch err := dns.TsigVerify(msg, res.Key.secret, "", false); {
	case err == nil:
	case errors.Is(err, dns.ErrTime):
		res.Error = dns.RcodeBadTime
	case errors.Is(err, dns.ErrKeyAlg), errors.Is(err, dns.ErrSecret):
		res.Error = dns.RcodeBadKey
	default:
		res.Error = dns.RcodeBadSig
	}
	return res
}

// Sign packs resp, the response to a request whose verification gave res,
// with a TSIG record: signed with the request's key and MAC, or, for
// BADKEY and BADSIG, unsigned and carrying the error (RFC 8945 §5.3.2).
// BADTIME is signed and carries our time (§5.2.3). now is our clock.
func Sign(resp *dns.Msg, res *Result, now time.Time) ([]byte, error) {
	t := &dns.TSIG{
		Hdr:        dns.RR_Header{Name: res.TSIG.Hdr.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm:  res.TSIG.Algorithm,
		Fudge:      Fudge,
		TimeSigned: uint64(now.Unix()),
		OrigId:     resp.Id,
		Error:      res.Error,
	}
	mac, secret := res.TSIG.MAC, ""
	switch res.Error {
	case dns.RcodeBadKey, dns.RcodeBadSig:
		mac = "" // unsigned: no secret is used
	case dns.RcodeBadTime:
		t.TimeSigned = res.TSIG.TimeSigned // the MAC covers the client's time; ours goes in Other Data
		t.OtherLen = 6
		t.OtherData = fmt.Sprintf("%012x", now.Unix())
		secret = res.Key.secret
	default:
		secret = res.Key.secret
	}
	resp.Extra = append(resp.Extra, t)
	out, _, err := dns.TsigGenerate(resp, secret, mac, false)
	return out, err
}

// Keygen makes a new random key for algorithm (a config name, "" for the
// default) and returns it with its secret; rnd is normally crypto/rand.
func Keygen(name, algorithm string, rnd io.Reader) (*Key, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if algorithm == "" {
		algorithm = DefaultAlgorithm
	}
	size := map[string]int{"hmac-sha1": 20, "hmac-sha256": 32, "hmac-sha384": 48, "hmac-sha512": 64}[strings.ToLower(algorithm)]
	if size == 0 {
		size = 32
	}
	raw := make([]byte, size)
	if _, err := io.ReadFull(rnd, raw); err != nil {
		return nil, fmt.Errorf("tsig: %w", err)
	}
	return NewKey(name, algorithm, base64.StdEncoding.EncodeToString(raw))
}
