package config

import (
	"strings"

	"github.com/dnslb/dnslb/dnslb/tsig"
)

// tsigTOML is one [tsig.NAME]: a key that signs updates (RFC 8945). The
// key's name on the wire is NAME, made fully qualified.
type tsigTOML struct {
	Algorithm  string `toml:"algorithm"`   // default "hmac-sha256"; or hmac-sha384, hmac-sha512, hmac-sha1
	SecretFile string `toml:"secret_file"` // required: base64 secret on its first line (dnslb -tsig-keygen NAME makes one)
}

// buildKeys reads every [tsig.NAME]; the keyring holds the valid ones.
func buildKeys(ts map[string]*tsigTOML, v *validator, c *Config) *tsig.Keyring {
	var keys []*tsig.Key
	for _, n := range sortedKeys(ts) {
		t := ts[n]
		at := "tsig." + n
		if t.SecretFile == "" {
			v.errorf(at, "secret_file is required: a file whose first line is the base64 secret (make one with dnslb -tsig-keygen %s)", n)
			continue
		}
		secret, err := tsig.ReadSecret(c.Path(t.SecretFile))
		if err != nil {
			v.errorf(at+".secret_file", "%v", err)
			continue
		}
		k, err := tsig.NewKey(n, t.Algorithm, secret)
		if err != nil {
			field := ".secret_file"
			if strings.HasPrefix(err.Error(), "algorithm") {
				field = ".algorithm"
			}
			v.errorf(at+field, "%v", err)
			continue
		}
		keys = append(keys, k)
	}
	kr, err := tsig.NewKeyring(keys...)
	if err != nil {
		v.errorf("tsig", "%v", err) // names differing only in case
		kr, _ = tsig.NewKeyring()
	}
	return kr
}
