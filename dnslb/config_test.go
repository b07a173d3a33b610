package dnslb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const minimalZone = `
[[zone]]
origin = "example."
records = ["@ 60 IN SOA ns1 hm 1 2 3 4 5", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
`

// TestConfigErrors: every mistake is reported with its file and line and
// says what would be valid.
func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string // each must appear in the error
	}{
		{"syntax", "[server]\nlisten = [1,", []string{"c.toml:2:"}},
		{"wrong type", "[server]\nlisten = 5353\n" + minimalZone, []string{"c.toml:2: server.listen: incompatible types"}},
		{"unknown key with hint", "[server]\nlisen = [\"127.0.0.1:53\"]\n" + minimalZone, []string{`c.toml:2: unknown key "server.lisen" (did you mean "listen"?)`}},
		{"unknown table", "[sever]\nx = 1\n" + minimalZone, []string{`c.toml:1: unknown key "sever"`, `did you mean "server"?`}},
		{"unknown member key", minimalZone + "[[pool]]\nname = \"www.example.\"\nmembers = [\n  { address = \"192.0.2.1\" },\n  { adress = \"192.0.2.2\" },\n]\n",
			[]string{`c.toml:9: unknown key "pool.members.adress" (did you mean "address"?)`, "c.toml:9: pool[0].members[1]: address is required"}},
		{"bad listen", "[server]\nlisten = [\"127.0.0.1:5353\", \"localhost:53\"]\n" + minimalZone, []string{`c.toml:2: server.listen[1]: "localhost:53": "localhost" is not an IP address`}},
		{"bad duration", "[server]\ntcp_idle_timeout = \"10 seconds\"\n" + minimalZone, []string{"c.toml:2:", "not a duration", `"2s"`}},
		{"no zone", "[server]\n", []string{"no [[zone]]"}},
		{"duplicate zone", minimalZone + minimalZone, []string{"c.toml:7: zone[1].origin: zone example. is defined twice"}},
		{"bad address", minimalZone + "[[pool]]\nname = \"www.example.\"\nmembers = [{ address = \"10.0.0.300\" }]\n",
			[]string{`c.toml:7: pool[0].members[0].address: "10.0.0.300" is not an IP address`}},
		{"pool outside zones", minimalZone + "[[pool]]\nname = \"www.other.\"\nmembers = [{ address = \"192.0.2.1\" }]\n",
			[]string{"c.toml:6: pool[0].name: www.other. is in no configured zone"}},
		{"relative pool name", minimalZone + "[[pool]]\nname = \"www.example\"\nmembers = [{ address = \"192.0.2.1\" }]\n",
			[]string{`c.toml:6: pool[0].name: "www.example" must be fully qualified`}},
		{"bad policy", minimalZone + "[[pool]]\nname = \"www.example.\"\npolicy = \"rnd\"\nmembers = [{ address = \"192.0.2.1\" }]\n",
			[]string{`c.toml:7: pool[0].policy: "rnd" is not a policy: use one of round_robin, weighted`}},
		{"unknown check", minimalZone + "[[pool]]\nname = \"www.example.\"\ncheck = \"web\"\nmembers = [{ address = \"192.0.2.1\" }]\n",
			[]string{"c.toml:7: pool[0].check: no [check.web] is defined"}},
		{"check type", "[check.web]\ntype = \"htp\"\n" + minimalZone, []string{`c.toml:2: check.web.type: "htp" is not a check type: use tcp, http, https, dns or none`}},
		{"tcp check without port", "[check.web]\ntype = \"tcp\"\n" + minimalZone, []string{"c.toml:2: check.web.type: a tcp check needs a port"}},
		{"timeout over interval", "[check.web]\ntype = \"tcp\"\nport = 80\ninterval = \"1s\"\ntimeout = \"2s\"\n" + minimalZone, []string{"c.toml:5: check.web.timeout: 2s must be more than 0 and at most the interval (1s)"}},
		{"fast interval over interval", "[check.web]\ntype = \"tcp\"\nport = 80\ninterval = \"1s\"\nfast_interval = \"2s\"\n" + minimalZone, []string{"c.toml:5: check.web.fast_interval: 2s: use 100ms up to the interval (1s)"}},
		{"fallback loop", minimalZone + "[[pool]]\nname = \"a.example.\"\nwhen_all_down = \"pool:b.example.\"\nmembers = [{ address = \"192.0.2.1\" }]\n[[pool]]\nname = \"b.example.\"\nwhen_all_down = \"pool:a.example.\"\nmembers = [{ address = \"192.0.2.2\" }]\n",
			[]string{"fallback pools form a loop"}},
		{"duplicate member", minimalZone + "[[pool]]\nname = \"www.example.\"\nmembers = [{ address = \"192.0.2.1\" }, { address = \"192.0.2.1\" }]\n",
			[]string{"192.0.2.1 is listed twice"}},
		{"non-loopback http without token", "[server]\nhttp = \"0.0.0.0:8053\"\n" + minimalZone, []string{"c.toml:2: server.http: 0.0.0.0:8053 is reachable from other hosts: set admin_token_file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("c.toml", []byte(tc.toml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\ndoes not contain %q", err, w)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "c.toml:") {
					t.Errorf("error line %q is not placed in the file", line)
				}
			}
		})
	}
}

// TestZoneErrorsAtStartup: zone problems found while building refuse the
// config with the zone file's (or the config's) file and line.
func TestZoneErrorsAtStartup(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"c.toml": "[[zone]]\norigin = \"example.\"\nfile = \"example.zone\"\n" +
			"[[pool]]\nname = \"www.example.\"\nmembers = [{ address = \"192.0.2.1\" }]\n",
		"example.zone": "$ORIGIN example.\n@ 60 IN SOA ns1 hm 1 2 3 4 5\n@ 60 IN NS ns1\nwww 60 IN A 192.0.2.9\nbad 60 IN A 1.2.3\n",
	})
	err := Check(filepath.Join(dir, "c.toml"))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{"example.zone:5:", "example.zone:4: www.example. has A records in the zone and a pool for A"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error:\n%v\ndoes not contain %q", err, w)
		}
	}
}

// TestExampleConfigsValid: every config shipped in testdata (but the broken
// one) passes -check.
func TestExampleConfigsValid(t *testing.T) {
	paths, _ := filepath.Glob("../testdata/*.toml")
	more, _ := filepath.Glob("../testdata/*/dnslb.toml")
	for _, p := range append(paths, more...) {
		if strings.Contains(p, "/bad/") {
			continue
		}
		if err := Check(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if err := Check("../testdata/bad/dnslb.toml"); err == nil {
		t.Error("testdata/bad/dnslb.toml passes")
	}
}

func TestKeyLines(t *testing.T) {
	src, err := os.ReadFile("../testdata/dnslb.toml")
	if err != nil {
		t.Fatal(err)
	}
	k := locateKeys(string(src))
	lines := strings.Split(string(src), "\n")
	for path, want := range map[string]string{
		"server.listen":              "listen",
		"zone[0].records[0]":         "inline",
		"check.web.port":             "port",
		"pool[0].members[1].address": `"127.0.0.12"`,
		"pool[3].members[2]":         "192.0.2.43",
		"pool[2].policy":             `"hash"`,
	} {
		l := k.line(path)
		if l == 0 || !strings.Contains(lines[l-1], want) {
			t.Errorf("%s: line %d %q, want a line with %q", path, l, lines[max(l-1, 0)], want)
		}
	}
}
