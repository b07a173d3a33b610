package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/journal"
	"github.com/dnslb/dnslb/dnslb/testutil"
)

const (
	acmeSecret  = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="
	wrongSecret = "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXItMTI="
	zoneOrigin  = "lb.example.com."
)

// daemon is the real binary, run as a subprocess.
type daemon struct {
	t    *testing.T
	bin  string
	cfg  string
	addr string // read from its log at each start (it listens on port 0 of 127.0.3.1, this test's range)
	p    *testutil.Proc
}

// start runs the binary and waits until it answers.
func (d *daemon) start() {
	d.t.Helper()
	d.p = testutil.Run(d.t, "dnslb", d.bin, "-config", d.cfg)
	d.addr = servingAddr(d.t, d.p)
	d.p.WaitFor(d.t, 30*time.Second, "dnslb to answer", func() bool { return d.soa() != 0 })
}

func (d *daemon) query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, err := dns.Exchange(m, d.addr)
	if err != nil {
		return nil
	}
	return r
}

func (d *daemon) soa() uint32 {
	if r := d.query(zoneOrigin, dns.TypeSOA); r != nil && len(r.Answer) == 1 {
		return r.Answer[0].(*dns.SOA).Serial
	}
	return 0
}

func (d *daemon) txt(name string) []string {
	r := d.query(name, dns.TypeTXT)
	if r == nil {
		d.t.Fatalf("no answer for %s", name)
	}
	var out []string
	for _, rr := range r.Answer {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out
}

// buildDaemon builds dnslb and writes a config whose zone takes TXT
// updates for _acme-challenge names signed with key acme.
func buildDaemon(t *testing.T) *daemon {
	dir := testutil.WriteFiles(t, map[string]string{
		"acme.key": acmeSecret + "\n",
		"zone":     "$ORIGIN lb.example.com.\n@ 3600 IN SOA ns1 hostmaster 1 3600 600 604800 300\n@ 3600 IN NS ns1\nns1 IN A 192.0.2.1\nexists IN TXT \"here\"\n",
		"dnslb.toml": `[server]
listen = ["127.0.3.1:0"]
http = ""
[tsig.acme]
secret_file = "acme.key"
[[zone]]
origin = "lb.example.com."
file = "zone"
update = [{ key = "acme", names = ["_acme-challenge.lb.example.com.", "_acme-challenge.*.lb.example.com.", "exists.lb.example.com."], types = ["TXT"] }]
`,
	})
	return &daemon{t: t, bin: builds.Binary(t, ".", ""), cfg: filepath.Join(dir, "dnslb.toml")}
}

// client runs nsupdate or knsupdate with a script; key is "" for none.
func (d *daemon) client(tool string, flags []string, key string, lines ...string) (string, error) {
	host, port, _ := net.SplitHostPort(d.addr)
	args := append([]string{}, flags...)
	if key != "" {
		args = append(args, "-y", key)
	}
	script := fmt.Sprintf("server %s %s\nzone %s\n%s\nsend\n", host, port, zoneOrigin, strings.Join(lines, "\n"))
	if tool == "nsupdate" {
		script = "ttl 60\n" + script
	}
	cmd := exec.Command(tool, args...)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestUpdateClients drives dnslb with nsupdate (BIND) and knsupdate (Knot)
// over UDP and TCP (-v for both): what a right key may do works, and everything else is
// refused with the rcode RFC 2136 and RFC 8945 give.
func TestUpdateClients(t *testing.T) {
	d := buildDaemon(t)
	d.start()
	good, wrong := "hmac-sha256:acme:"+acmeSecret, "hmac-sha256:acme:"+wrongSecret
	for _, cl := range []struct {
		tool  string
		flags []string
	}{
		{"nsupdate", nil}, {"nsupdate", []string{"-v"}}, {"knsupdate", nil}, {"knsupdate", []string{"-v"}},
	} {
		label := cl.tool + strings.Join(cl.flags, "")
		name := "_acme-challenge." + strings.ReplaceAll(label, "-", "") + "." + zoneOrigin
		add := "update add " + name + " 60 TXT \"token\""
		if cl.tool == "knsupdate" {
			add = "update add " + name + " 60 TXT token"
		}
		t.Run(label, func(t *testing.T) {
			for _, tc := range []struct {
				desc  string
				key   string
				lines []string
				fail  string // "" for success, else a word the tool prints
				has   bool   // name has the TXT afterwards
			}{
				{"no key", "", []string{add}, "REFUSED", false},
				{"wrong key", wrong, []string{add}, "", false},
				{"name not allowed", good, []string{"update add other." + zoneOrigin + " 60 TXT x"}, "REFUSED", false},
				{"type not allowed", good, []string{"update add " + name + " 60 CNAME target." + zoneOrigin}, "REFUSED", false},
				{"prerequisite yxdomain fails", good, []string{"prereq yxdomain nothing." + zoneOrigin, add}, "NXDOMAIN", false},
				{"prerequisite nxdomain fails", good, []string{"prereq nxdomain exists." + zoneOrigin, add}, "YXDOMAIN", false},
				{"prerequisite yxrrset fails", good, []string{"prereq yxrrset exists." + zoneOrigin + " A", add}, "NXRRSET", false},
				{"prerequisite nxrrset fails", good, []string{"prereq nxrrset exists." + zoneOrigin + " TXT", add}, "YXRRSET", false},
				{"add", good, []string{add}, "", true},
				{"delete", good, []string{"update delete " + name + " TXT"}, "", false},
			} {
				before := d.soa()
				out, err := d.client(cl.tool, cl.flags, tc.key, tc.lines...)
				switch {
				case tc.desc == "wrong key":
					if err == nil {
						t.Errorf("%s: a wrong key succeeded:\n%s", tc.desc, out)
					}
				case tc.fail == "" && err != nil:
					t.Errorf("%s: %v\n%s", tc.desc, err, out)
				case tc.fail != "" && (err == nil || !strings.Contains(out, tc.fail)):
					t.Errorf("%s: want %s, got %v:\n%s", tc.desc, tc.fail, err, out)
				}
				if got := d.txt(name); (len(got) == 1) != tc.has {
					t.Errorf("%s: TXT is %v", tc.desc, got)
				}
				if moved := d.soa() != before; moved != (tc.fail == "" && tc.key == good) {
					t.Errorf("%s: serial %d → %d", tc.desc, before, d.soa())
				}
			}
		})
	}
	if !strings.Contains(d.p.Output(), "BADSIG") {
		t.Errorf("no log of the bad signature:\n%s", d.p.Output())
	}
}

// TestUpdateSurvivesKill: kill -9 right after an update is acknowledged,
// start again: the change is there; SIGHUP keeps it.
func TestUpdateSurvivesKill(t *testing.T) {
	d := buildDaemon(t)
	d.start()
	good := "hmac-sha256:acme:" + acmeSecret
	name := "_acme-challenge.kill." + zoneOrigin
	for i := range 3 {
		if out, err := d.client("nsupdate", nil, good, fmt.Sprintf("update add %s 60 TXT \"t%d\"", name, i)); err != nil {
			t.Fatalf("nsupdate: %v\n%s", err, out)
		}
	}
	serial := d.soa()
	d.p.Kill()
	d.start()
	if got := d.txt(name); len(got) != 3 || d.soa() != serial {
		t.Fatalf("after kill -9: %v, serial %d want %d; logs:\n%s", got, d.soa(), serial, d.p.Output())
	}
	if err := d.p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.p.WaitFor(t, 10*time.Second, "a reload", func() bool { return strings.Contains(d.p.Output(), "config reloaded") })
	if got := d.txt(name); len(got) != 3 || d.soa() != serial {
		t.Fatalf("after reload: %v", got)
	}
}

// TestUpdateCommands: -tsig-keygen prints a key that loads; -dump-zone
// prints the zone with its journal replayed; -clear-journal removes it.
func TestUpdateCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-tsig-keygen", "acme", "-algorithm", "hmac-sha512"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	lines := strings.Split(text, "\n")
	secret := ""
	for i, l := range lines {
		if strings.HasPrefix(l, "# acme.key") {
			secret = lines[i+1]
		}
	}
	if !strings.Contains(text, "[tsig.acme]") || !strings.Contains(text, `algorithm   = "hmac-sha512"`) || len(secret) != 88 || !strings.Contains(text, "nsupdate -y hmac-sha512:acme:"+secret) {
		t.Fatalf("keygen output:\n%s", text)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "dnslb.toml")
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("acme.key", secret+"\n")
	write("dnslb.toml", `[tsig.acme]
algorithm = "hmac-sha512"
secret_file = "acme.key"
[[zone]]
origin = "lb.example.com."
records = ["@ 60 IN SOA ns1 hm 7 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
update = [{ key = "acme", names = ["*.lb.example.com."], types = ["TXT"] }]
[[pool]]
name = "www.lb.example.com."
members = [{ address = "192.0.2.10" }]
`)
	if code := run([]string{"-check", "-config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("the generated key does not load: %s", errOut.String())
	}
	// A journal as the server writes it: one update, serial 7 → 8.
	soa7, _ := dns.NewRR("lb.example.com. 60 IN SOA ns1.lb.example.com. hm.lb.example.com. 7 3600 600 86400 30")
	soa8, _ := dns.NewRR("lb.example.com. 60 IN SOA ns1.lb.example.com. hm.lb.example.com. 8 3600 600 86400 30")
	txt, _ := dns.NewRR(`_acme-challenge.lb.example.com. 60 IN TXT "from-the-journal"`)
	j, _, err := journal.Open(filepath.Join(dir, "lb.example.com.jnl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(&journal.Entry{From: 7, To: 8, Key: "acme.", Del: []dns.RR{soa7}, Add: []dns.RR{soa8, txt}}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"-dump-zone", "lb.example.com", "-config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("dump: %s", errOut.String())
	}
	for _, want := range []string{"serial 8", "from-the-journal", "; www.lb.example.com. A: pool www.lb.example.com."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dump lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"-clear-journal", "lb.example.com.", "-config", cfg}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "removed") {
		t.Fatalf("clear: %d %s %s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run([]string{"-dump-zone", "lb.example.com", "-config", cfg}, &out, &errOut); code != 0 || strings.Contains(out.String(), "from-the-journal") || !strings.Contains(out.String(), "serial 7") {
		t.Fatalf("after clear:\n%s", out.String())
	}
	if code := run([]string{"-dump-zone", "nowhere.example", "-config", cfg}, &out, &errOut); code == 0 {
		t.Fatal("dumping an unknown zone succeeded")
	}
}
