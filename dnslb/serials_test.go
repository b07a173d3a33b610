package dnslb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// TestTransferSerials: health changes, updates and reloads publish serials
// that never go back; a zone that takes updates journals the serials health
// made, so that its journal still replays after a restart.
func TestTransferSerials(t *testing.T) {
	conf := strings.Replace(xfrConfig("", 0), `notify_interval = "200ms"`, `notify_interval = "200ms"
update = [{ key = "xfr", names = ["*.lb.test."], types = ["TXT"] }]`, 1)
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": conf, "xfr.key": xfrSecret + "\n"})
	probe := newFakeProbe()
	ts := start(t, dir+"/dnslb.toml", Options{Probe: probe.probe})
	checkAll := func(ts *testServer) {
		for _, tg := range ts.prober.Targets() {
			ts.prober.CheckNow(context.Background(), tg)
		}
	}
	published := func(ts *testServer) uint32 {
		if x := ts.xfr.get("lb.test."); x != nil {
			if p := x.pub.Load(); p != nil {
				return p.serial
			}
		}
		return 0
	}
	checkAll(ts)
	testutil.WaitFor(t, 10*time.Second, "first serial", func() bool { return published(ts) != 0 })
	s0 := soaSerial(t, ts)

	probe.set("192.0.2.10", fakeFigures{down: true})
	checkAll(ts)
	testutil.WaitFor(t, 10*time.Second, "serial after a health change", func() bool { return published(ts) == s0+1 && soaSerial(t, ts) == s0+1 })

	m := new(dns.Msg)
	m.SetUpdate("lb.test.")
	m.Insert([]dns.RR{rr(t, "acme.lb.test. 60 IN TXT \"token\"")})
	resp, _ := sendUpdate(t, "tcp", ts.addr, m, "xfr.", dns.HmacSHA256, xfrSecret, time.Now())
	var r dns.Msg
	if err := r.Unpack(resp); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("update: %v %s\n%s", err, dns.RcodeToString[r.Rcode], ts.logs.String())
	}
	testutil.WaitFor(t, 10*time.Second, "serial after an update", func() bool { return published(ts) == s0+2 })
	inc, err := xfrClient(ts.addr, "lb.test.", "", xfrSecret, s0)
	if err != nil || !strings.Contains(strings.Join(rrStrings(inc), "\n"), "acme.lb.test. 60 IN TXT \"token\"") || len(inc) != 1+3+3+1 {
		t.Fatalf("IXFR over a health change and an update (%v):\n%s", err, strings.Join(rrStrings(inc), "\n"))
	}

	// A reload reads the file's lower serial: the served one stays.
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the serial kept over a reload", func() bool { return soaSerial(t, ts) == s0+2 })
	if published(ts) != s0+2 {
		t.Errorf("published %d after a reload that changed nothing, want %d", published(ts), s0+2)
	}

	// Restart: the journal (with the health serial in it) replays; the
	// serial goes on from the last one.
	ts.stop()
	ts2 := start(t, dir+"/dnslb.toml", Options{Probe: probe.probe})
	checkAll(ts2)
	testutil.WaitFor(t, 10*time.Second, "a serial after restart", func() bool { return published(ts2) != 0 })
	if s := soaSerial(t, ts2); s != s0+3 {
		t.Errorf("serial %d after a restart, want %d", s, s0+3)
	}
	if got := ts2.ask(t, "udp", "acme.lb.test.", dns.TypeTXT); len(got.Answer) != 1 {
		t.Errorf("the update was lost over a restart: %v", got)
	}
}

func rr(t *testing.T, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
