package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/geo/geotest"
	"github.com/dnslb/dnslb/dnslb/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files")

// builds holds the dnslb binaries the tests run as processes, each built
// once.
var builds testutil.Builds

func TestMain(m *testing.M) {
	code := m.Run()
	builds.Close()
	os.Exit(code)
}

// TestCheckGolden: -check over a config and zone files holding many
// different mistakes reports each once, at its file and line, in plain
// words (testdata/bad/check.golden; -update rewrites it). No line carries
// miekg/dns's own wording, and a syntax error in a zone's SOA is not also
// reported as a missing SOA.
func TestCheckGolden(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-check", "-config", "../../testdata/bad/dnslb.toml"}, &out, &errOut); code == 0 {
		t.Fatal("exit 0 for a broken config")
	}
	abs, err := filepath.Abs("../../testdata/bad")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(errOut.String(), abs, "DIR")
	golden := "../../testdata/bad/check.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("-check output differs from %s (go test -run TestCheckGolden ./cmd/dnslb -update rewrites it):\n%s", golden, got)
	}
	for _, raw := range []string{"bad A", "not a TTL", "garbage after rdata", "dns:", "no SOA record at its apex: add one, e.g. \"@ 3600 IN SOA ns1.typo"} {
		if strings.Contains(got, raw) {
			t.Errorf("output holds %q:\n%s", raw, got)
		}
	}
	seen := map[string]bool{}
	placed := regexp.MustCompile(`^[^:]+:\d+: `)
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		if !placed.MatchString(l) {
			t.Errorf("not FILE:LINE: message: %q", l)
		}
		if seen[l] {
			t.Errorf("reported twice: %s", l)
		}
		seen[l] = true
	}
}

func TestCheckValid(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-check", "-config", "../../testdata/dnslb.toml"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "ok") {
		t.Errorf("stdout %q", out.String())
	}
}

func TestVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "dnslb ") {
		t.Fatalf("exit %d, stdout %q", code, out.String())
	}
}

// TestSignals runs the real binary: it answers, reloads on SIGHUP (a new
// record appears), and exits 0 on SIGTERM.
func TestSignals(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dnslb.toml")
	write := func(extra string) {
		conf := "[server]\nlisten = [\"127.0.0.1:0\"]\nhttp = \"\"\n[[zone]]\norigin = \"example.\"\nrecords = [\"@ 60 IN SOA ns1 hm 1 2 3 4 5\", \"@ 60 IN NS ns1\", \"ns1 60 IN A 192.0.2.1\"" + extra + "]\n"
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	p := testutil.Run(t, "dnslb", builds.Binary(t, ".", ""), "-config", cfg)
	addr := servingAddr(t, p)
	ask := func(name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, err := dns.Exchange(m, addr)
		if err != nil {
			return nil
		}
		return r
	}
	answers := func(name string) func() bool {
		return func() bool { r := ask(name); return r != nil && len(r.Answer) == 1 }
	}
	p.WaitFor(t, 30*time.Second, "an answer", answers("ns1.example."))
	write(", \"new 60 IN A 192.0.2.7\"")
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.WaitFor(t, 30*time.Second, "SIGHUP to reload", answers("new.example."))
	if err := p.Stop(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v; logs:\n%s", err, p.Output())
	}
}

// servingAddr waits for the "dnslb serving" line p logs once bound and
// returns its (first) DNS address: the daemons the tests start listen on
// port 0, as a port picked by the test and bound later by the child could
// be taken in between.
func servingAddr(t *testing.T, p *testutil.Proc) string {
	t.Helper()
	return p.WaitOutput(t, 30*time.Second, servingLine)[1]
}

var servingLine = regexp.MustCompile(`msg="dnslb serving" dns="?\[([^\] ]+)`)

// TestCheckWarnsDamagedState: -check warns of a state file dnslb would set
// aside, and passes, as the server would start.
func TestCheckWarnsDamagedState(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dnslb.toml")
	if err := os.WriteFile(cfg, []byte(`[server]
listen = ["127.0.0.1:0"]
http = ""
state_file = "state.json"
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte("{truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-check", "-config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if want := "warning: state file " + filepath.Join(dir, "state.json") + ": not a dnslb state file"; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
	}
}

// TestDS: -ds creates the zone's first key when none exists and prints its
// DS; a second run prints the same (no new key); an unsigned zone is an
// error.
func TestDS(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dnslb.toml")
	text := "[[zone]]\norigin = \"s.example.\"\nrecords = [\"@ 60 IN SOA ns1 hm 1 2 3 4 5\", \"@ 60 IN NS ns1\", \"ns1 60 IN A 192.0.2.1\"]\n[zone.dnssec]\nkey_dir = \"keys\"\n" +
		"[[zone]]\norigin = \"u.example.\"\nrecords = [\"@ 60 IN SOA ns1 hm 1 2 3 4 5\", \"@ 60 IN NS ns1\", \"ns1 60 IN A 192.0.2.1\"]\n"
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var outs []string
	for range 2 {
		var out, errOut bytes.Buffer
		if code := run([]string{"-ds", "s.example", "-config", cfg}, &out, &errOut); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		outs = append(outs, out.String())
	}
	if outs[0] != outs[1] {
		t.Errorf("second run printed another DS:\n%s\n%s", outs[0], outs[1])
	}
	rr, err := dns.NewRR(strings.TrimSpace(outs[0]))
	if err != nil {
		t.Fatalf("%q: %v", outs[0], err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "keys", "Ks.example.+013+*.key"))
	if len(files) != 1 {
		t.Fatalf("key files %v", files)
	}
	f, _ := os.Open(files[0])
	defer f.Close()
	key, err := dns.ReadRR(f, files[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := key.(*dns.DNSKEY).ToDS(dns.SHA256); rr.String() != func() string { want.Hdr.Ttl = rr.Header().Ttl; return want.String() }() {
		t.Errorf("DS %s, want %s", rr, want)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-ds", "u.example.", "-config", cfg}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "not signed") {
		t.Errorf("unsigned zone: exit %d, %q", code, errOut.String())
	}
}

// TestCheckHostFlags: -check takes the per-host flags over the shared file.
func TestCheckHostFlags(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "dnslb.toml")
	conf := "[server]\nhttp = \"\"\n[cluster]\npeers = [\"127.0.1.1:7946\", \"127.0.1.2:7946\"]\n[[zone]]\norigin = \"example.\"\nrecords = [\"@ 60 IN SOA ns1 hm 1 2 3 4 5\", \"@ 60 IN NS ns1\", \"ns1 60 IN A 192.0.2.1\"]\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-check", "-config", cfg}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "cluster.bind: required") {
		t.Fatalf("without -cluster-bind: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"-check", "-config", cfg, "-cluster-bind", "127.0.1.2:7946", "-cluster-name", "ns2", "-listen", "127.0.1.2:53"}, &out, &errOut); code != 0 {
		t.Fatalf("with the host's flags: exit %d, %q", code, errOut.String())
	}
	if code := run([]string{"-check", "-config", cfg, "-cluster-bind", "127.0.1.2:7946", "-listen", "nope"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "server.listen[0]") {
		t.Fatalf("a bad -listen: exit %d, %q", code, errOut.String())
	}
}

// TestLocate: -locate prints where a geo pool sends a client, from the
// database to the members served after probing (one checked member is
// down: its datacenter is passed over).
func TestLocate(t *testing.T) {
	dir := t.TempDir()
	if err := geotest.Write(filepath.Join(dir, "city.mmdb"), []geotest.Entry{
		{Net: "81.2.69.0/24", Continent: "EU", Country: "GB", Subdivision: "ENG", City: "London", Lat: 51.5, Lon: -0.1, Coord: true},
	}); err != nil {
		t.Fatal(err)
	}
	cfg := `[server]
listen = ["127.0.2.1:0"]
state_file = "state.json"
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
[check.closed]
type = "tcp"
port = 9
timeout = "500ms"
[map.world]
geoip_db = "city.mmdb"
default = ["iad"]
[map.world.locations]
"EU" = ["ams", "iad"]
[[pool]]
name = "www.lb.test."
policy = "geo"
map = "world"
members = [
  { address = "127.0.2.10", datacenter = "ams", check = "closed" },
  { address = "127.0.2.20", datacenter = "iad" },
]
`
	if err := os.WriteFile(filepath.Join(dir, "dnslb.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ client, want string }{
		{"81.2.69.0/24", `pool www.lb.test. (map world, within round_robin, min_healthy 1)
  location:    EU/GB/ENG/London (51.5000, -0.1000) (database network 81.2.69.0/24)
  rule:        locations.EU
  datacenters: ams iad
  network:     81.2.69.0 - 81.2.69.255, ECS scope /24
  A            eligible: ams 0/1, iad 1/1; serves iad: 127.0.2.20
`},
		{"2002:5102:4500::/40", `pool www.lb.test. (map world, within round_robin, min_healthy 1)
  embeds:      81.2.69.0 (6to4 2002::/16: located by its IPv4 address)
  location:    EU/GB/ENG/London (51.5000, -0.1000) (database network 81.2.69.0/24)
  rule:        locations.EU
  datacenters: ams iad
  network:     81.2.69.0 - 81.2.69.255, ECS scope /40
  A            eligible: ams 0/1, iad 1/1; serves iad: 127.0.2.20
`},
		{"192.0.2.7", `pool www.lb.test. (map world, within round_robin, min_healthy 1)
  location:    not in the database
  rule:        default
  datacenters: iad
  network:     81.2.70.0 - 255.255.255.255, ECS scope /1
  A            eligible: iad 1/1; serves iad: 127.0.2.20
`},
	} {
		var out, errOut bytes.Buffer
		if code := run([]string{"-config", filepath.Join(dir, "dnslb.toml"), "-locate", tc.client}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.client, code, errOut.String())
		}
		if out.String() != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.client, out.String(), tc.want)
		}
	}
	// An operator drained iad (the state file holds the override): no
	// datacenter has an eligible member, and when_all_down = "all" serves
	// the client's first datacenter.
	state := `{"version": 1, "overrides": [{"pool": "www.lb.test.", "address": "127.0.2.20", "override": "drain", "since": "2026-01-01T00:00:00Z"}]}`
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(state), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-config", filepath.Join(dir, "dnslb.toml"), "-locate", "81.2.69.7"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if want := "  A            eligible: ams 0/1, iad 0/1; serves ams: 127.0.2.10\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("with iad drained:\n%s\nwant it to end\n%s", out.String(), want)
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"-config", filepath.Join(dir, "dnslb.toml"), "-locate", "81.2.69.0/33"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "is not an address or a subnet") {
		t.Errorf("a bad client: exit %d, %q", code, errOut.String())
	}
}
