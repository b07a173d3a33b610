package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const updZoneConf = `
[[zone]]
origin = "example."
records = ["@ 60 IN SOA ns1 hm 1 2 3 4 5", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
`

// TestUpdateConfigErrors: [tsig.NAME] and update rules are checked with
// their file and line, saying what is valid.
func TestUpdateConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"good.key":  "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=\n",
		"short.key": "c2hvcnQ=\n",
		"bad.key":   "not base64!\n",
		"empty.key": "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, toml string
		want       []string
	}{
		{"no secret_file", "[tsig.acme]\nalgorithm = \"hmac-sha256\"\n" + updZoneConf, []string{":1: tsig.acme: secret_file is required", "dnslb -tsig-keygen acme"}},
		{"missing secret file", "[tsig.acme]\nsecret_file = \"nope.key\"\n" + updZoneConf, []string{":2: tsig.acme.secret_file:", "no such file"}},
		{"empty secret", "[tsig.acme]\nsecret_file = \"empty.key\"\n" + updZoneConf, []string{":2: tsig.acme.secret_file:", "first line is empty"}},
		{"short secret", "[tsig.acme]\nsecret_file = \"short.key\"\n" + updZoneConf, []string{":2: tsig.acme.secret_file:", "at least 16"}},
		{"a device", "[tsig.acme]\nsecret_file = \"/dev/zero\"\n" + updZoneConf, []string{":2: tsig.acme.secret_file:", "not a regular file"}},
		{"not base64", "[tsig.acme]\nsecret_file = \"bad.key\"\n" + updZoneConf, []string{":2: tsig.acme.secret_file:", "not base64"}},
		{"bad algorithm", "[tsig.acme]\nalgorithm = \"hmac-md5\"\nsecret_file = \"good.key\"\n" + updZoneConf, []string{":2: tsig.acme.algorithm:", "hmac-sha256"}},
		{"unknown tsig key", "[tsig.acme]\nsecret_file = \"good.key\"\nsecrte = 1\n" + updZoneConf, []string{`:3: unknown key "tsig.acme.secrte"`}},
		{"rule names no key", "[tsig.acme]\nsecret_file = \"good.key\"\n" + updZoneConf + "update = [{ key = \"acmee\", names = [\"x.example.\"], types = [\"TXT\"] }]\n", []string{`zone[0].update[0].key: "acmee" is not a [tsig.NAME] key (defined: acme)`}},
		{"rule without names and types", "[tsig.acme]\nsecret_file = \"good.key\"\n" + updZoneConf + "update = [{ key = \"acme\" }]\n", []string{"zone[0].update[0]: names is required", "zone[0].update[0]: types is required"}},
		{"pattern outside the zone", "[tsig.acme]\nsecret_file = \"good.key\"\n" + updZoneConf + "update = [{ key = \"acme\", names = [\"x.other.\"], types = [\"TXT\"] }]\n", []string{"zone[0].update[0].names[0]:", "outside the zone"}},
		{"partial wildcard", "[tsig.acme]\nsecret_file = \"good.key\"\n" + updZoneConf + "update = [{ key = \"acme\", names = [\"x*.example.\"], types = [\"TXT\"] }]\n", []string{"must be a whole label"}},
		{"bad type", "[tsig.acme]\nsecret_file = \"good.key\"\n" + updZoneConf + "update = [{ key = \"acme\", names = [\"x.example.\"], types = [\"TXTT\"] }]\n", []string{`zone[0].update[0].types[0]: "TXTT" is not a record type`}},
		{"unknown rule key", "[tsig.acme]\nsecret_file = \"good.key\"\n" + updZoneConf + "update = [{ key = \"acme\", names = [\"x.example.\"], types = [\"TXT\"], name = \"x\" }]\n", []string{`unknown key "zone.update.name" (did you mean "names"?)`}},
		{"journal without rules", updZoneConf + "journal = \"x.jnl\"\n", []string{"zone[0].journal: the zone takes no updates"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.toml")
			_, err := Parse(path, []byte(tc.toml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\ndoes not contain %q", err, w)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, path+":") {
					t.Errorf("error line %q is not placed in the file", line)
				}
			}
		})
	}
	// And a good one: the default journal sits beside the config for a zone
	// without a file.
	cfg, err := Parse(filepath.Join(dir, "c.toml"), []byte("[tsig.acme]\nsecret_file = \"good.key\"\n"+updZoneConf+"update = [{ key = \"acme\", names = [\"*.example.\"], types = [\"txt\"] }]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Zones[0].Journal; got != filepath.Join(dir, "example.jnl") {
		t.Errorf("journal %s", got)
	}
}
