package tsig

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestNewKey(t *testing.T) {
	good := "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="
	for _, tc := range []struct {
		name, alg, secret, err string
	}{
		{"acme", "", good, ""},
		{"acme", "HMAC-SHA512", good, ""},
		{"acme", "hmac-md5", good, "algorithm"},
		{"acme", "", "c2hvcnQ=", "at least 16"},
		{"acme", "", "!!", "not base64"},
		{"a..b", "", good, "not a domain name"},
	} {
		k, err := NewKey(tc.name, tc.alg, tc.secret)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("NewKey(%q, %q): %v, want %q", tc.name, tc.alg, err, tc.err)
		}
		if err == nil && k.Name != "acme." {
			t.Errorf("name %q", k.Name)
		}
	}
	if _, err := NewKeyring(mustKey(t, "a", good), mustKey(t, "A.", good)); err == nil {
		t.Error("a key defined twice was accepted")
	}
}

func mustKey(t *testing.T, name, secret string) *Key {
	t.Helper()
	k, err := NewKey(name, "", secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVerifySign: each outcome of RFC 8945 §5.2, and responses that a
// client (miekg/dns) verifies.
func TestVerifySign(t *testing.T) {
	for _, alg := range []string{"hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"} {
		k, err := Keygen("acme", alg, bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
		if err != nil {
			t.Fatal(err)
		}
		kr, _ := NewKeyring(k)
		other, _ := Keygen("acme", alg, nil)
		now := time.Now()
		for _, tc := range []struct {
			desc    string
			name    string
			secret  string
			at      time.Time
			wantErr uint16
		}{
			{"good", "acme.", k.Secret(), now, 0},
			{"bad signature", "acme.", other.Secret(), now, dns.RcodeBadSig},
			{"unknown key", "nobody.", k.Secret(), now, dns.RcodeBadKey},
			{"too old", "acme.", k.Secret(), now.Add(-301 * time.Second), dns.RcodeBadTime},
			{"too new", "acme.", k.Secret(), now.Add(301 * time.Second), dns.RcodeBadTime},
		} {
			m := new(dns.Msg)
			m.SetUpdate("example.")
			m.SetTsig(tc.name, k.Algorithm, 300, tc.at.Unix())
			wire, mac, err := dns.TsigGenerate(m, tc.secret, "", false)
			if err != nil {
				t.Fatal(err)
			}
			var in dns.Msg
			if err := in.Unpack(wire); err != nil {
				t.Fatal(err)
			}
			res := kr.Verify(wire, &in)
			if res == nil || res.Error != tc.wantErr {
				t.Fatalf("%s %s: %+v, want error %d", alg, tc.desc, res, tc.wantErr)
			}
			resp := new(dns.Msg)
			resp.SetReply(&in)
			out, err := Sign(resp, res, now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantErr == 0 {
				if err := dns.TsigVerify(out, k.Secret(), mac, false); err != nil {
					t.Fatalf("%s: client cannot verify the response: %v", alg, err)
				}
			}
		}
	}
	var m dns.Msg
	m.SetQuestion("example.", dns.TypeSOA)
	if (&Keyring{}).Verify(nil, &m) != nil {
		t.Error("an unsigned message has a result")
	}
}
