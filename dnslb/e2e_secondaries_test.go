package dnslb

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
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

// startNSDSecondary runs NSD as a secondary of zone from primary, with key
// xfr, taking NOTIFY from loopback signed with that key.
func startNSDSecondary(t *testing.T, zone, primary string) *testutil.NameServer {
	return testutil.StartNSD(t, testutil.NSD{
		Listen: nsdSecondary,
		Server: []string{"verbosity: 2", "round-robin: no", "minimal-responses: yes"},
		Extra:  fmt.Sprintf("key:\n  name: xfr.\n  algorithm: hmac-sha256\n  secret: %q\n", xfrSecret),
		Zones: []testutil.NSDZone{{Name: zone, Options: []string{
			"request-xfr: " + strings.Replace(primary, ":", "@", 1) + " xfr.",
			"allow-notify: 127.0.0.0/8 xfr.",
			"outgoing-interface: 127.0.8.2",
		}}},
	})
}

// startKnotSecondary runs Knot as a secondary of zone from primary, taking
// NOTIFY signed with key xfr.
func startKnotSecondary(t *testing.T, zone, primary string) *testutil.NameServer {
	return testutil.StartKnot(t, testutil.Knot{
		Listen: knotSecondary,
		Config: fmt.Sprintf(`key:
  - id: xfr.
    algorithm: hmac-sha256
    secret: %[1]s
remote:
  - id: primary
    address: %[3]s
    key: xfr.
    via: 127.0.8.3
acl:
  - id: notify
    address: 127.0.0.0/8
    key: xfr.
    action: notify
zone:
  - domain: %[2]s
    master: primary
    acl: notify
`, xfrSecret, zone, strings.Replace(primary, ":", "@", 1)),
	})
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

// askAt asks addr over UDP; some callers need the answer, so it waits
// generously (in a poll, a lost query only delays the next look).
func askAt(addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Timeout: 5 * time.Second}
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
	nsd := startNSDSecondary(t, "lb.test.", ts.addr)
	knot := startKnotSecondary(t, "lb.test.", ts.addr)
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
	if k := knot.Output(); !strings.Contains(k, "IXFR, incoming") {
		t.Errorf("no IXFR in Knot's log:\n%s", k)
	}
	for _, client := range []string{"127.0.8.2", "127.0.8.3"} {
		found := false
		for _, line := range strings.Split(ts.logs.String(), "\n") {
			found = found || strings.Contains(line, "type=ixfr answer=incremental") && strings.Contains(line, "client="+client+" ")
		}
		if !found {
			t.Errorf("no incremental transfer to %s logged; NSD's log:\n%s", client, nsd.Output())
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
