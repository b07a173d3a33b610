package main

import (
	"bytes"
	"flag"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite golden files")

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
	bin := filepath.Join(dir, "dnslb")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().String()
	l.Close()
	cfg := filepath.Join(dir, "dnslb.toml")
	write := func(extra string) {
		conf := "[server]\nlisten = [\"" + addr + "\"]\nhttp = \"\"\n[[zone]]\norigin = \"example.\"\nrecords = [\"@ 60 IN SOA ns1 hm 1 2 3 4 5\", \"@ 60 IN NS ns1\", \"ns1 60 IN A 192.0.2.1\"" + extra + "]\n"
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ask := func(name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, err := dns.Exchange(m, addr)
		if err != nil {
			return nil
		}
		return r
	}
	deadline := time.Now().Add(10 * time.Second)
	for r := ask("ns1.example."); r == nil || len(r.Answer) != 1; r = ask("ns1.example.") {
		if time.Now().After(deadline) {
			t.Fatalf("no answer; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	write(", \"new 60 IN A 192.0.2.7\"")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for r := ask("new.example."); r == nil || len(r.Answer) != 1; r = ask("new.example.") {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; logs:\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
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
