package dnslb

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// Fixed addresses of this test (the transfer range, 127.0.8.x): NSD and
// Knot as secondaries on port 53.
const (
	nsdSecondary  = "127.0.8.2:53"
	knotSecondary = "127.0.8.3:53"
)

// runDaemon starts a name server in its own process group, stopped when the
// test ends, and waits until it answers on addr.
func runDaemon(t *testing.T, addr, logFile string, name string, args ...string) {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/" + name) // not in the PATH of non-root users
	}
	if err != nil {
		t.Fatalf("%s is not installed: `make tools` installs it: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.Create(logFile + ".out")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	exited, done := make(chan error, 1), make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		out.Close()
	})
	if err := waitDNS(addr, exited); err != nil {
		l1, _ := os.ReadFile(logFile)
		l2, _ := os.ReadFile(logFile + ".out")
		t.Fatalf("%s does not answer on %s: %v\n%s\n%s", name, addr, err, l1, l2)
	}
}

// startNSDSecondary runs NSD as a secondary of zone from primary, with key
// xfr, taking NOTIFY from loopback signed with that key. It returns its
// log file.
func startNSDSecondary(t *testing.T, zone, primary string) string {
	dir := t.TempDir()
	logf := filepath.Join(dir, "nsd.log")
	conf := fmt.Sprintf(`server:
  ip-address: 127.0.8.2
  port: 53
  username: ""
  chroot: ""
  zonesdir: %[1]q
  database: ""
  zonelistfile: "%[1]s/zone.list"
  xfrdfile: "%[1]s/xfrd.state"
  xfrdir: %[1]q
  pidfile: "%[1]s/nsd.pid"
  logfile: %[2]q
  server-count: 1
  verbosity: 2
  round-robin: no
  minimal-responses: yes
remote-control:
  control-enable: no
key:
  name: xfr.
  algorithm: hmac-sha256
  secret: %[3]q
zone:
  name: %[4]q
  zonefile: "%[1]s/secondary.zone"
  request-xfr: %[5]s xfr.
  allow-notify: 127.0.0.0/8 xfr.
  outgoing-interface: 127.0.8.2
`, dir, logf, xfrSecret, zone, strings.Replace(primary, ":", "@", 1))
	if err := os.WriteFile(filepath.Join(dir, "nsd.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	runDaemon(t, nsdSecondary, logf, "nsd", "-d", "-c", filepath.Join(dir, "nsd.conf"))
	return logf
}

// startKnotSecondary runs Knot as a secondary of zone from primary, taking
// NOTIFY signed with key xfr.
func startKnotSecondary(t *testing.T, zone, primary string) string {
	dir := t.TempDir()
	logf := filepath.Join(dir, "knot.log")
	conf := fmt.Sprintf(`server:
  rundir: %[1]q
  listen: 127.0.8.3@53
log:
  - target: %[2]q
    any: info
database:
  storage: %[1]q
key:
  - id: xfr.
    algorithm: hmac-sha256
    secret: %[3]s
remote:
  - id: primary
    address: %[5]s
    key: xfr.
    via: 127.0.8.3
acl:
  - id: notify
    address: 127.0.0.0/8
    key: xfr.
    action: notify
template:
  - id: default
    storage: %[1]q
zone:
  - domain: %[4]s
    master: primary
    acl: notify
`, dir, logf, xfrSecret, zone, strings.Replace(primary, ":", "@", 1))
	if err := os.WriteFile(filepath.Join(dir, "knot.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	runDaemon(t, knotSecondary, logf, "knotd", "-c", filepath.Join(dir, "knot.conf"))
	return logf
}

// answerSet is what a response says, pooled order and TTLs aside.
func answerSet(r *dns.Msg) string {
	var rrs []string
	for _, rr := range append(slices.Clone(r.Answer), r.Ns...) {
		c := dns.Copy(rr)
		c.Header().Ttl = 0
		rrs = append(rrs, c.String())
	}
	slices.Sort(rrs)
	return fmt.Sprintf("%s aa=%v\n%s", dns.RcodeToString[r.Rcode], r.Authoritative, strings.Join(rrs, "\n"))
}

func askAt(addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

func servesAddr(addr, name, ip string) bool {
	r, err := askAt(addr, name, dns.TypeA)
	if err != nil {
		return true // unknown: not withdrawn yet
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok && a.A.String() == ip {
			return true
		}
	}
	return false
}

// TestSecondaries: NSD and Knot, real secondaries of a dnslb zone, answer
// as dnslb does once transferred; follow a member's death within seconds
// of the NOTIFY, by IXFR; a client without the key or with a wrong one is
// refused.
func TestSecondaries(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"dnslb.toml": strings.Replace(strings.Replace(xfrConfig(`"`+nsdSecondary+`", "`+knotSecondary+`"`, 20), `listen = ["127.0.0.1:0"]`, `listen = ["127.0.8.1:0"]`, 1),
			`transfer = [{ key = "xfr" }, { addresses = ["127.0.8.2"] }]`, `transfer = [{ key = "xfr" }]`, 1),
		"xfr.key": xfrSecret + "\n",
	})
	probe := newFakeProbe()
	ts := start(t, dir+"/dnslb.toml", Options{Probe: probe.probe})
	for _, tg := range ts.prober.Targets() {
		ts.prober.CheckNow(context.Background(), tg)
	}
	nsdLog := startNSDSecondary(t, "lb.test.", ts.addr)
	knotLog := startKnotSecondary(t, "lb.test.", ts.addr)
	secondaries := map[string]string{"nsd": nsdSecondary, "knot": knotSecondary}
	serial := func(addr string) uint32 {
		r, err := askAt(addr, "lb.test.", dns.TypeSOA)
		if err != nil || len(r.Answer) != 1 {
			return 0
		}
		return r.Answer[0].(*dns.SOA).Serial
	}
	for name, addr := range secondaries {
		testutil.WaitFor(t, 20*time.Second, name+" has the zone", func() bool { return serial(addr) == soaSerial(t, ts) })
	}
	queries := []struct {
		name  string
		qtype uint16
	}{
		{"lb.test.", dns.TypeSOA}, {"lb.test.", dns.TypeNS}, {"ns1.lb.test.", dns.TypeA}, {"mail.lb.test.", dns.TypeMX},
		{"www.lb.test.", dns.TypeA}, {"www.lb.test.", dns.TypeAAAA}, {"www.lb.test.", dns.TypeTXT}, {"static.lb.test.", dns.TypeA},
		{"t7.lb.test.", dns.TypeTXT}, {"nope.lb.test.", dns.TypeA},
	}
	for _, q := range queries {
		want := answerSet(ts.ask(t, "udp", q.name, q.qtype))
		for name, addr := range secondaries {
			r, err := askAt(addr, q.name, q.qtype)
			if err != nil {
				t.Errorf("%s %s %s: %v", name, q.name, dns.TypeToString[q.qtype], err)
				continue
			}
			if got := answerSet(r); got != want {
				t.Errorf("%s %s %s:\n%s\ndnslb:\n%s", name, q.name, dns.TypeToString[q.qtype], got, want)
			}
		}
	}

	// A backend dies: how long until each secondary stops serving it.
	before := soaSerial(t, ts)
	probe.set("192.0.2.11", fakeFigures{down: true})
	died := time.Now()
	for _, tg := range ts.prober.Targets() {
		ts.prober.CheckNow(context.Background(), tg)
	}
	withdrawn := map[string]time.Duration{}
	testutil.WaitFor(t, 20*time.Second, "both secondaries withdraw 192.0.2.11", func() bool {
		for name, addr := range secondaries {
			if _, ok := withdrawn[name]; !ok && !servesAddr(addr, "www.lb.test.", "192.0.2.11") {
				withdrawn[name] = time.Since(died)
			}
		}
		return len(withdrawn) == len(secondaries)
	})
	for name, d := range withdrawn {
		t.Logf("%s stopped serving the dead member %v after its health check failed", name, d.Round(time.Millisecond))
	}
	if soaSerial(t, ts) == before {
		t.Error("serial did not move")
	}
	// Both took the change by IXFR: Knot's log says so; NSD's does not
	// name the type, ours does (each secondary transfers from its own
	// address).
	k, _ := os.ReadFile(knotLog)
	if !strings.Contains(string(k), "IXFR, incoming") {
		t.Errorf("no IXFR in Knot's log:\n%s", k)
	}
	for _, client := range []string{"127.0.8.2", "127.0.8.3"} {
		found := false
		for _, line := range strings.Split(ts.logs.String(), "\n") {
			found = found || strings.Contains(line, "type=ixfr answer=incremental") && strings.Contains(line, "client="+client+" ")
		}
		if !found {
			n, _ := os.ReadFile(nsdLog)
			t.Errorf("no incremental transfer to %s logged; NSD's log:\n%s", client, n)
		}
	}
	if n := promtest.ToFloat64(ts.metrics.transfers.WithLabelValues("ixfr", "incremental")); n < 2 {
		t.Errorf("incremental transfers %v, want one per secondary", n)
	}
	// It comes back: served again.
	probe.set("192.0.2.11", fakeFigures{})
	for _, tg := range ts.prober.Targets() {
		ts.prober.CheckNow(context.Background(), tg)
	}
	for name, addr := range secondaries {
		testutil.WaitFor(t, 20*time.Second, name+" serves 192.0.2.11 again", func() bool { return servesAddr(addr, "www.lb.test.", "192.0.2.11") })
	}

	// Without the key, or with a wrong one: refused (kdig, a real client).
	for _, tc := range []struct{ name, key, want string }{
		{"no key", "", "REFUSED"},
		{"wrong key", "hmac-sha256:xfr.:d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc=", "BADSIG"},
		{"unknown key", "hmac-sha256:other.:" + xfrSecret, "BADKEY"},
	} {
		host, port, _ := strings.Cut(ts.addr, ":")
		args := []string{"@" + host, "-p", port, "AXFR", "lb.test."}
		if tc.key != "" {
			args = append(args, "-y", tc.key)
		}
		out, _ := exec.Command("kdig", args...).CombinedOutput()
		if !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "www.lb.test.") {
			t.Errorf("kdig AXFR, %s: want %s and no records:\n%s", tc.name, tc.want, out)
		}
	}
}
