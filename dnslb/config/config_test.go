package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
		{"tcp check without port", "[check.web]\ntype = \"tcp\"\n" + minimalZone, []string{"c.toml:1: check.web.port: a tcp check needs a port, e.g. port = 8080"}},
		{"timeout over interval", "[check.web]\ntype = \"tcp\"\nport = 80\ninterval = \"1s\"\ntimeout = \"2s\"\n" + minimalZone, []string{"c.toml:5: check.web.timeout: 2s must be more than 0 and at most the interval (1s)"}},
		{"fast interval over interval", "[check.web]\ntype = \"tcp\"\nport = 80\ninterval = \"1s\"\nfast_interval = \"2s\"\n" + minimalZone, []string{"c.toml:5: check.web.fast_interval: 2s: use 100ms up to the interval (1s)"}},
		{"fallback loop", minimalZone + "[[pool]]\nname = \"a.example.\"\nwhen_all_down = \"pool:b.example.\"\nmembers = [{ address = \"192.0.2.1\" }]\n[[pool]]\nname = \"b.example.\"\nwhen_all_down = \"pool:a.example.\"\nmembers = [{ address = \"192.0.2.2\" }]\n",
			[]string{"fallback pools form a loop"}},
		{"duplicate member", minimalZone + "[[pool]]\nname = \"www.example.\"\nmembers = [{ address = \"192.0.2.1\" }, { address = \"192.0.2.1\" }]\n",
			[]string{"192.0.2.1 is listed twice"}},
		{"bad http host", "[server]\nhttp_hosts = [\"ok.example\", \"evil.example:8053\"]\n" + minimalZone, []string{`c.toml:2: server.http_hosts[1]: "evil.example:8053": write a host name or an address without a port`}},
		{"zero limits", "[server]\nhttp_max_connections = 0\nzone_max_bytes = 0\nzone_max_records = -1\nreload_timeout = \"0s\"\n" + minimalZone,
			[]string{"c.toml:2: server.http_max_connections: 0: use a positive number", "c.toml:3: server.zone_max_bytes: 0: use a positive number of bytes", "c.toml:4: server.zone_max_records: -1", "c.toml:5: server.reload_timeout: 0s: use a positive duration"}},
		{"dnssec algorithm", minimalZone + "[zone.dnssec]\nalgorithm = \"rsasha1\"\nkey_dir = \"keys\"\n", []string{`c.toml:6: zone[0].dnssec.algorithm: "rsasha1" is not a supported algorithm: use "ecdsap256sha256" or "ed25519"`}},
		{"dnssec without key_dir", minimalZone + "[zone.dnssec]\nalgorithm = \"ed25519\"\n", []string{"c.toml:5: zone[0].dnssec.key_dir: key_dir is required"}},
		{"dnssec unknown key", minimalZone + "[zone.dnssec]\nkey_dir = \"k\"\nkeydir = \"k\"\n", []string{`c.toml:7: unknown key "zone.dnssec.keydir" (did you mean "key_dir"?)`}},
		{"non-loopback http without token", "[server]\nhttp = \"0.0.0.0:8053\"\n" + minimalZone, []string{"c.toml:2: server.http: 0.0.0.0:8053 is reachable from other hosts: set admin_token_file"}},
		{"cluster quorum", "[cluster]\nbind = \"127.0.1.1:7946\"\nhealth_quorum = \"most\"\n" + minimalZone, []string{`c.toml:3: cluster.health_quorum: "most": use "any", "majority" or "all"`}},
		{"cluster unknown key", "[cluster]\nbind = \"127.0.1.1:7946\"\npeer = [\"127.0.1.2:7946\"]\n" + minimalZone, []string{`c.toml:3: unknown key "cluster.peer" (did you mean "peers"?)`}},
		{"cluster without key off loopback", "[cluster]\nbind = \"192.0.2.53:7946\"\n" + minimalZone, []string{"c.toml:1: cluster.key_file: required when bind is not a loopback address"}},
		{"cluster bad peer", "[cluster]\nbind = \"127.0.1.1\"\npeers = [\"127.0.1.2:x\"]\n" + minimalZone, []string{`c.toml:3: cluster.peers[0]: "127.0.1.2:x": write host:port`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.toml", []byte(tc.toml))
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

func TestKeyLines(t *testing.T) {
	src, err := os.ReadFile("../../testdata/dnslb.toml")
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

// TestZeroIsNotDefault: a zero written for a key whose default is not zero
// is refused, not silently replaced by the default.
func TestZeroIsNotDefault(t *testing.T) {
	for _, tc := range []struct{ toml, want string }{
		{"[check.web]\ntype = \"tcp\"\nport = 80\nrise = 0\n", "c.toml:4: check.web.rise: 0: use 1-100"},
		{"[check.web]\ntype = \"tcp\"\nport = 80\nfall = 0\n", "c.toml:4: check.web.fall: 0: use 1-100"},
		{"[check.web]\ntype = \"http\"\nport = 0\n", "c.toml:3: check.web.port: 0 is not a port"},
		{"[server]\nudp_size = 0\n", "c.toml:2: server.udp_size: 0: use 512-65535"},
		{"[server]\ntcp_max_connections = 0\n", "c.toml:2: server.tcp_max_connections: 0: use a positive number"},
		{"[server]\ntcp_idle_timeout = \"0s\"\n", "c.toml:2: server.tcp_idle_timeout: 0s: use a positive duration"},
		{"[rrl]\nslip = 0\n", "c.toml:2: rrl.slip: 0: use 1"},
		{"[rrl]\nwindow = 0\n", "c.toml:2: rrl.window: 0: use 1-3600"},
		{minimalZone + "[[pool]]\nname = \"www.example.\"\nmin_healthy = 0\nmembers = [{ address = \"192.0.2.1\" }]\n", "c.toml:7: pool[0].min_healthy: 0: use 1 or more"},
		{minimalZone + "[[pool]]\nname = \"www.example.\"\nhash_prefix_v4 = 0\nmembers = [{ address = \"192.0.2.1\" }]\n", "c.toml:7: pool[0].hash_prefix_v4: 0: use 1-32"},
		{minimalZone + "[[pool]]\nname = \"www.example.\"\nmembers = [{ address = \"192.0.2.1\", priority = 0 }]\n", "c.toml:7: pool[0].members[0].priority: 0: use 1 or more"},
	} {
		src := tc.toml
		if !strings.Contains(src, "[[zone]]") {
			src += minimalZone
		}
		_, err := Parse("c.toml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.toml, err, tc.want)
		}
	}
}

// TestEveryDurationReported: bad durations do not stop the decoder; each
// is reported at its line beside the other problems.
func TestEveryDurationReported(t *testing.T) {
	src := "[server]\ntcp_idle_timeout = \"10 seconds\"\ntcp_read_timeout = \"5\"\n" +
		"[check.web]\ntype = \"tcp\"\nport = 80\ninterval = \"2x\"\nrise = 0\n" + minimalZone
	_, err := Parse("c.toml", []byte(src))
	want := []string{
		`c.toml:2: server.tcp_idle_timeout: "10 seconds" is not a duration`,
		`c.toml:3: server.tcp_read_timeout: "5" is not a duration`,
		`c.toml:7: check.web.interval: "2x" is not a duration`,
		`c.toml:8: check.web.rise: 0: use 1-100`,
	}
	if err == nil {
		t.Fatal("accepted")
	}
	if got := strings.Split(err.Error(), "\n"); len(got) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(got), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error:\n%v\ndoes not contain %q", err, w)
		}
	}
}

// TestTypedValues: what the server reads is parsed once, here, with the
// defaults applied.
func TestTypedValues(t *testing.T) {
	src := "[server]\nlisten = [\"127.0.0.1:53\", \"::1\"]\nhttp = \"\"\ntcp_idle_timeout = \"3s\"\nstate_file = \"state.json\"\n" +
		"[log]\nlevel = \"debug\"\nformat = \"json\"\n[rrl]\nresponses_per_second = 5\nexempt = [\"10.1.2.3/8\"]\n" +
		"[check.web]\ntype = \"http\"\ninterval = \"4s\"\n" + minimalZone +
		"[[pool]]\nname = \"WWW.example.\"\ncheck = \"web\"\nwhen_all_down = \"none\"\npolicy = \"hash\"\nmembers = [{ address = \"::ffff:192.0.2.1\" }, { address = \"192.0.2.2\", check = \"none\", weight = 0 }]\n"
	c, err := Parse("/etc/dnslb/c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if fmt.Sprint(s.Listen) != "[127.0.0.1:53 [::1]:53]" || s.HTTP.IsValid() || s.TCPIdleTimeout != 3*time.Second || s.TCPReadTimeout != 5*time.Second || s.StateFile != "/etc/dnslb/state.json" || s.UDPSize != 1232 {
		t.Errorf("server %+v", s)
	}
	if c.Log.Level != slog.LevelDebug || !c.Log.JSON || c.Log.QuerySample != 1 {
		t.Errorf("log %+v", c.Log)
	}
	if fmt.Sprint(c.RRL.Exempt) != "[10.0.0.0/8]" || c.RRL.Slip != 2 {
		t.Errorf("rrl %+v", c.RRL)
	}
	web := c.Checks["web"]
	if web.Port != 80 || web.Path != "/" || web.Interval != 4*time.Second || web.Timeout != time.Second || web.Rise != 2 || web.Fall != 3 || !web.InitialUp {
		t.Errorf("check %+v", web)
	}
	p := c.Pools[0]
	if p.Name != "www.example." || p.Zone != 0 || p.Policy != Hash || p.TTL != 30 || p.MinTTL != 1 || p.WhenAllDown != AllDownServeNone || p.HashPrefix4 != 24 {
		t.Errorf("pool %+v", p)
	}
	if m := p.Members; m[0].Addr != netip.MustParseAddr("192.0.2.1") || m[0].Check != web || m[0].Weight != 1 || m[1].Check != nil || m[1].Weight != 0 {
		t.Errorf("members %+v", m)
	}
}

// TestCookieSecretFile: the secrets are read at load, with both lines of a
// rotation, and a bad file is reported at the key's line.
func TestCookieSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "00112233445566778899aabbccddeeff\nffeeddccbbaa99887766554433221100\n")
	c, err := Parse("c.toml", []byte("[server]\ncookie_secret_file = \""+good+"\"\n"+minimalZone))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Server.CookieSecrets; s == nil || !s.HasPrev || s.Current[0] != 0x00 || s.Previous[0] != 0xff {
		t.Fatalf("secrets %+v", s)
	}
	if c, err := Parse("c.toml", []byte(minimalZone)); err != nil || c.Server.CookieSecrets != nil {
		t.Fatalf("default: %+v, %v", c.Server.CookieSecrets, err)
	}
	bad := write("bad", "0011\n")
	for file, want := range map[string]string{
		bad:                "c.toml:3: server.cookie_secret_file: " + bad + ": line 1: a secret is 32 hex digits",
		dir + "/missing":   "c.toml:3: server.cookie_secret_file: cookie secrets: open " + dir + "/missing: no such file",
		write("empty", ""): "c.toml:3: server.cookie_secret_file: " + dir + "/empty: no secret",
	} {
		_, err := Parse("c.toml", []byte("[server]\nudp_size = 1232\ncookie_secret_file = \""+file+"\"\n"+minimalZone))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", file, err, want)
		}
	}
}

// TestHost: flags replace the file's per-host values, and can make an
// instance of a cluster from a file without [cluster] bind.
func TestHost(t *testing.T) {
	src := "[server]\nlisten = [\"127.0.0.1:5353\"]\n[cluster]\npeers = [\"127.0.1.1:7946\", \"127.0.1.2:7946\"]\n" + minimalZone
	if _, err := Parse("c.toml", []byte(src)); err == nil || !strings.Contains(err.Error(), "cluster.bind: required") {
		t.Fatalf("no bind accepted: %v", err)
	}
	c, err := ParseFor("c.toml", []byte(src), Host{Listen: []string{"127.0.1.2:53"}, HTTP: "127.0.0.1:9053", StateFile: "/var/lib/x.state", ClusterName: "ns2", ClusterBind: "127.0.1.2:7946"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.Server.Listen) != "[127.0.1.2:53]" || c.Server.HTTP.String() != "127.0.0.1:9053" || c.Server.StateFile != "/var/lib/x.state" {
		t.Errorf("server: %+v", c.Server)
	}
	if c.Cluster == nil || c.Cluster.Name != "ns2" || c.Cluster.BindAddr().String() != "127.0.1.2:7946" || c.Cluster.Quorum().String() != "majority" {
		t.Errorf("cluster: %+v", c.Cluster)
	}
}

// TestLimitDefaults: the limits of the HTTP side and of loading have their
// documented defaults when not written, and take what is written.
func TestLimitDefaults(t *testing.T) {
	c, err := Parse("c.toml", []byte(minimalZone))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if s.HTTPMaxConnections != 100 || s.HTTPIdleTimeout != 30*time.Second || s.HTTPHeaderTimeout != 5*time.Second ||
		s.ZoneMaxBytes != 512<<20 || s.ZoneMaxRecords != 5_000_000 || s.ReloadTimeout != time.Minute || len(s.HTTPHosts) != 0 {
		t.Errorf("defaults: %+v", s)
	}
	c, err = Parse("c.toml", []byte("[server]\nhttp_max_connections = 7\nhttp_hosts = [\"DNSLB1.Example.com.\", \"[2001:DB8::1]\"]\nzone_max_bytes = 4096\nreload_timeout = \"2s\"\n"+minimalZone))
	if err != nil {
		t.Fatal(err)
	}
	s = c.Server
	if s.HTTPMaxConnections != 7 || s.ZoneMaxBytes != 4096 || s.ReloadTimeout != 2*time.Second || fmt.Sprint(s.HTTPHosts) != "[dnslb1.example.com 2001:db8::1]" {
		t.Errorf("written: %+v", s)
	}
}

// TestUDPCoalesce: [server] udp_coalesce defaults to 50 µs, takes 0s (off)
// to 1ms, and refuses anything else with what is valid.
func TestUDPCoalesce(t *testing.T) {
	for _, tc := range []struct {
		line    string
		want    time.Duration
		wantErr string
	}{
		{"", 50 * time.Microsecond, ""},
		{"udp_coalesce = \"0s\"", 0, ""},
		{"udp_coalesce = \"100us\"", 100 * time.Microsecond, ""},
		{"udp_coalesce = \"1ms\"", time.Millisecond, ""},
		{"udp_coalesce = \"2ms\"", 0, "c.toml:2: server.udp_coalesce: 2ms: use 0s (off) to 1ms"},
		{"udp_coalesce = \"-1us\"", 0, "c.toml:2: server.udp_coalesce: -1µs: use 0s (off) to 1ms"},
		{"udp_coalesce = \"soon\"", 0, "c.toml:2: server.udp_coalesce"},
	} {
		c, err := Parse("c.toml", []byte("[server]\n"+tc.line+"\n"+minimalZone))
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q", tc.line, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.line, err)
		case c.Server.UDPCoalesce != tc.want:
			t.Errorf("%q: udp_coalesce %v, want %v", tc.line, c.Server.UDPCoalesce, tc.want)
		}
	}
}

// TestReadTokenFIFO: a FIFO named as the token file is refused at once,
// never waited on.
func TestReadTokenFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadToken(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("ReadToken(FIFO): %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("ReadToken waited on a FIFO")
	}
}
