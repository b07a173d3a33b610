package dnslb

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startKnot runs knotd with its cookies module keyed by secret (hex),
// serving lb.test. as cookieConfig does, and returns its address.
func startKnot(t *testing.T, secret string) string {
	t.Helper()
	knotd, err := exec.LookPath("knotd")
	if err != nil {
		knotd, err = exec.LookPath("/usr/sbin/knotd")
	}
	if err != nil {
		t.Fatalf("knotd is not installed: `make tools` installs it (Debian package knot): %v", err)
	}
	dir := t.TempDir()
	zone := "@ 60 IN SOA ns1 hm 1 3600 600 86400 30\n@ 60 IN NS ns1\nns1 60 IN A 192.0.2.1\nwww 60 IN A 192.0.2.80\n"
	if err := os.WriteFile(filepath.Join(dir, "lb.test.zone"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		conf := fmt.Sprintf(`server:
    rundir: %[1]q
    listen: 127.0.0.1@%[2]d
    pidfile: %[3]q
database:
    storage: %[4]q
mod-cookies:
  - id: c
    secret: 0x%[5]s
template:
  - id: default
    storage: %[1]q
    global-module: mod-cookies/c
zone:
  - domain: lb.test
    file: lb.test.zone
log:
  - target: stderr
    any: warning
`, dir, port, filepath.Join(dir, "knot.pid"), filepath.Join(dir, "db"), secret)
		confFile := filepath.Join(dir, "knot.conf")
		if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		var log strings.Builder
		cmd := exec.Command(knotd, "-c", confFile)
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting knotd: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		if err := waitDNS(addr, exited); err == nil {
			t.Cleanup(stop)
			return addr
		} else if attempt == 3 {
			stop()
			t.Fatalf("knotd does not answer on %s: %v\n%s", addr, err, log.String())
		}
		stop()
	}
}

// TestCookieKnot: dnslb and Knot (mod-cookies) sharing a secret accept
// each other's RFC 9018 cookies, and answer each kind of cookie alike —
// except a client cookie alone over UDP, which Knot answers BADCOOKIE and
// dnslb answers (RFC 7873 §5.2.3 allows both; the README says why).
func TestCookieKnot(t *testing.T) {
	knot := startKnot(t, cookieSecretA)
	ts := start(t, cookieConfig(t, `cookie_secret_file = "`+secretFile(t, cookieSecretA)+`"`, ""), Options{})
	ours := cookieOf(cookieExchange(t, "tcp", "127.0.0.1", ts.addr, clientCookie))
	theirs := cookieOf(cookieExchange(t, "tcp", "127.0.0.1", knot, clientCookie))
	if len(ours) != 48 || len(theirs) != 48 {
		t.Fatalf("cookies: dnslb %q, knot %q", ours, theirs)
	}
	forged := clientCookie + "01000000" + ours[24:32] + "0011223344556677"
	for _, tc := range []struct {
		name, netw, cookie string
		dnslb, knot        int
	}{
		{"knot's cookie", "udp", theirs, dns.RcodeSuccess, dns.RcodeSuccess},
		{"dnslb's cookie", "udp", ours, dns.RcodeSuccess, dns.RcodeSuccess},
		{"forged", "udp", forged, rcodeBadCookie, rcodeBadCookie},
		{"forged over TCP", "tcp", forged, dns.RcodeSuccess, dns.RcodeSuccess},
		{"client cookie alone over TCP", "tcp", clientCookie, dns.RcodeSuccess, dns.RcodeSuccess},
		{"no cookie", "udp", "", dns.RcodeSuccess, dns.RcodeSuccess},
		{"client cookie alone (known difference)", "udp", clientCookie, dns.RcodeSuccess, rcodeBadCookie},
	} {
		for _, s := range []struct {
			name, addr string
			want       int
		}{{"dnslb", ts.addr, tc.dnslb}, {"knot", knot, tc.knot}} {
			r := cookieExchange(t, tc.netw, "127.0.0.1", s.addr, tc.cookie)
			if r == nil || r.Rcode != s.want {
				t.Errorf("%s, %s: %v, want %s", tc.name, s.name, r, dns.RcodeToString[s.want])
				continue
			}
			if got := cookieOf(r); tc.cookie != "" && (len(got) != 48 || !strings.HasPrefix(got, clientCookie+"01000000")) {
				t.Errorf("%s, %s: cookie %q, want a version 1 server cookie", tc.name, s.name, got)
			}
		}
	}
}
