package dnslb

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

const xfrSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="

// xfrConfig is a zone that transfers to key xfr or to 127.0.8.2 unsigned,
// with a pool of three checked members and one of two unchecked ones.
func xfrConfig(notify string, extra int) string {
	var recs strings.Builder
	for i := range extra {
		fmt.Fprintf(&recs, "  \"t%d 300 IN TXT \\\"%s\\\"\",\n", i, strings.Repeat("x", 100))
	}
	return `
[server]
listen = ["127.0.0.1:0"]
http = ""

[tsig.xfr]
secret_file = "xfr.key"

[[zone]]
origin = "lb.test."
records = [
  "@ 300 IN SOA ns1.lb.test. hostmaster.lb.test. 2026010100 3600 600 604800 60",
  "@ 300 IN NS ns1.lb.test.",
  "ns1 300 IN A 192.0.2.1",
  "mail 300 IN MX 10 ns1.lb.test.",
` + recs.String() + `]
transfer = [{ key = "xfr" }, { addresses = ["127.0.8.2"] }]
notify = [` + notify + `]
notify_interval = "200ms"

[check.web]
type = "tcp"
port = 80
interval = "1h"
rise = 1
fall = 1

[[pool]]
name = "www.lb.test."
ttl = 30
check = "web"
members = [{ address = "192.0.2.10" }, { address = "192.0.2.11" }, { address = "2001:db8::12" }]

[[pool]]
name = "static.lb.test."
members = [{ address = "192.0.2.20" }, { address = "192.0.2.21" }]
`
}

// xfrClient transfers zone from addr (TCP), signed with secret when not
// "", from the local address from (default 127.0.0.1). ixfr > 0 asks IXFR
// from that serial.
func xfrClient(addr, zone, from, secret string, ixfr uint32) ([]dns.RR, error) {
	m := new(dns.Msg)
	if ixfr > 0 {
		m.SetIxfr(zone, ixfr, "ns1.lb.test.", "hostmaster.lb.test.")
	} else {
		m.SetAxfr(zone)
	}
	// Generous between messages: a large zone sent by a server under -race
	// on a loaded machine (miekg/dns waits 2 s by default).
	tr := &dns.Transfer{ReadTimeout: 30 * time.Second}
	if from != "" {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}).Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		tr.Conn = &dns.Conn{Conn: c}
	}
	if secret != "" {
		m.SetTsig("xfr.", dns.HmacSHA256, 300, time.Now().Unix())
		tr.TsigSecret = map[string]string{"xfr.": secret}
	}
	var env chan *dns.Envelope
	var err error
	if tr.Conn != nil {
		env, err = tr.In(m, "")
	} else {
		env, err = tr.In(m, addr)
	}
	if err != nil {
		return nil, err
	}
	var out []dns.RR
	for e := range env {
		if e.Error != nil {
			return out, e.Error
		}
		out = append(out, e.RR...)
	}
	return out, nil
}

func soaSerial(t *testing.T, ts *testServer) uint32 {
	t.Helper()
	r := ts.ask(t, "udp", "lb.test.", dns.TypeSOA)
	if len(r.Answer) != 1 {
		t.Fatalf("SOA query: %v", r)
	}
	return r.Answer[0].(*dns.SOA).Serial
}

func TestTransferOut(t *testing.T) {
	var notifies, unsigned atomic.Int32
	var lastNotified atomic.Uint32
	// A secondary that ignores the first NOTIFY and acknowledges the rest,
	// if signed with the transfer key (as BIND and Knot send it, and an
	// acl with a key requires); it signs its answer.
	pc, err := net.ListenPacket("udp", "127.0.8.3:0")
	if err != nil {
		t.Fatal(err)
	}
	sec := &dns.Server{PacketConn: pc, TsigSecret: map[string]string{"xfr.": xfrSecret}, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if r.Opcode != dns.OpcodeNotify {
			return
		}
		if r.IsTsig() == nil || w.TsigStatus() != nil {
			unsigned.Add(1)
			return
		}
		if notifies.Add(1) == 1 {
			return
		}
		if len(r.Answer) == 1 {
			lastNotified.Store(r.Answer[0].(*dns.SOA).Serial)
		}
		m := new(dns.Msg)
		m.SetReply(r)
		m.SetTsig("xfr.", dns.HmacSHA256, 300, time.Now().Unix())
		_ = w.WriteMsg(m)
	})}
	go func() { _ = sec.ActivateAndServe() }()
	t.Cleanup(func() { _ = sec.Shutdown() })

	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": xfrConfig(`"`+pc.LocalAddr().String()+`"`, 2000), "xfr.key": xfrSecret + "\n"})
	probe := newFakeProbe()
	ts := start(t, dir+"/dnslb.toml", Options{Probe: probe.probe})
	for _, tg := range ts.prober.Targets() {
		ts.prober.CheckNow(context.Background(), tg)
	}
	testutil.WaitFor(t, 10*time.Second, "a first serial published", func() bool {
		x := ts.xfr.get("lb.test.")
		return x != nil && x.pub.Load() != nil
	})
	first := soaSerial(t, ts)
	if first != 2026010100 {
		t.Fatalf("first serial %d, want the zone file's", first)
	}

	// Refused: unsigned from an address no rule names, a wrong key, UDP.
	if _, err := xfrClient(ts.addr, "lb.test.", "", "", 0); err == nil || !strings.Contains(err.Error(), "rcode: 5") {
		t.Errorf("unsigned AXFR from 127.0.0.1: %v, want REFUSED", err)
	}
	if _, err := xfrClient(ts.addr, "lb.test.", "", "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc=", 0); err == nil {
		t.Errorf("AXFR with a wrong secret accepted")
	}
	if _, err := xfrClient(ts.addr, "other.test.", "", xfrSecret, 0); err == nil || !strings.Contains(err.Error(), "rcode: 5") {
		t.Errorf("AXFR of a zone not ours: %v, want REFUSED", err)
	}
	m := new(dns.Msg)
	m.SetAxfr("lb.test.")
	if r := ts.exchange(t, "udp", m); r.Rcode != dns.RcodeRefused {
		t.Errorf("AXFR over UDP: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}

	// The whole zone, signed, over many messages; and unsigned from the
	// address a rule names: the same records.
	recs, err := xfrClient(ts.addr, "lb.test.", "", xfrSecret, 0)
	if err != nil {
		t.Fatalf("signed AXFR: %v", err)
	}
	plain, err := xfrClient(ts.addr, "lb.test.", "127.0.8.2", "", 0)
	if err != nil {
		t.Fatalf("AXFR from 127.0.8.2: %v", err)
	}
	if len(recs) != len(plain) || len(recs) != 2000+3+5+2 {
		t.Fatalf("AXFR: %d and %d records, want %d", len(recs), len(plain), 2000+3+5+2)
	}
	if recs[0].Header().Rrtype != dns.TypeSOA || recs[len(recs)-1].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("AXFR does not begin and end with the SOA")
	}
	want := []string{
		"www.lb.test. 30 IN A 192.0.2.10", "www.lb.test. 30 IN A 192.0.2.11", "www.lb.test. 30 IN AAAA 2001:db8::12",
		"static.lb.test. 30 IN A 192.0.2.20", "static.lb.test. 30 IN A 192.0.2.21",
	}
	got := rrStrings(recs)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("AXFR lacks %q", w)
		}
	}
	if n := promtest.ToFloat64(ts.metrics.transfers.WithLabelValues("axfr", "refused")); n != 2 {
		t.Errorf("refused transfers counted %v, want 2", n)
	}

	// Up to date: IXFR at the current serial is the SOA alone.
	if r, err := xfrClient(ts.addr, "lb.test.", "", xfrSecret, first); err != nil || len(r) != 1 {
		t.Fatalf("IXFR at the current serial: %d records, %v", len(r), err)
	}

	// A member goes down: a new serial, NOTIFY (retried once), and IXFR
	// carries just that record.
	probe.set("192.0.2.11", fakeFigures{down: true})
	for _, tg := range ts.prober.Targets() {
		ts.prober.CheckNow(context.Background(), tg)
	}
	testutil.WaitFor(t, 10*time.Second, "a new serial after a member went down", func() bool { return soaSerial(t, ts) != first })
	second := soaSerial(t, ts)
	if second != first+1 {
		t.Errorf("serial %d after %d, want +1", second, first)
	}
	testutil.WaitFor(t, 10*time.Second, "the NOTIFY signed and acknowledged after a retry", func() bool { return lastNotified.Load() == second })
	if n := unsigned.Load(); n != 0 {
		t.Errorf("%d NOTIFY unsigned or badly signed", n)
	}
	testutil.WaitFor(t, 10*time.Second, "the unanswered NOTIFY counted as retried", func() bool {
		return promtest.ToFloat64(ts.metrics.notifies.WithLabelValues("retry")) >= 1 && strings.Contains(ts.logs.String(), "notify not acknowledged; retrying")
	})
	inc, err := xfrClient(ts.addr, "lb.test.", "", xfrSecret, first)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rrStrings(inc), []string{
		fmt.Sprintf("lb.test. 300 IN SOA ns1.lb.test. hostmaster.lb.test. %d 3600 600 604800 60", second),
		fmt.Sprintf("lb.test. 300 IN SOA ns1.lb.test. hostmaster.lb.test. %d 3600 600 604800 60", first),
		"www.lb.test. 30 IN A 192.0.2.11",
		fmt.Sprintf("lb.test. 300 IN SOA ns1.lb.test. hostmaster.lb.test. %d 3600 600 604800 60", second),
		fmt.Sprintf("lb.test. 300 IN SOA ns1.lb.test. hostmaster.lb.test. %d 3600 600 604800 60", second),
	}; !slices.Equal(got, want) {
		t.Errorf("IXFR from %d:\n%s\nwant\n%s", first, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A serial the history does not hold: the whole zone.
	full, err := xfrClient(ts.addr, "lb.test.", "", xfrSecret, first-5)
	if err != nil || len(full) != len(recs)-1 {
		t.Errorf("IXFR from an unknown serial: %d records (%v), want the whole zone (%d)", len(full), err, len(recs)-1)
	}
	if n := promtest.ToFloat64(ts.metrics.transfers.WithLabelValues("ixfr", "incremental")); n != 1 {
		t.Errorf("incremental transfers counted %v", n)
	}

	// Two changes within notify_interval: at most one serial per interval.
	probe.set("192.0.2.11", fakeFigures{})
	probe.set("192.0.2.10", fakeFigures{down: true})
	for _, tg := range ts.prober.Targets() {
		ts.prober.CheckNow(context.Background(), tg)
	}
	testutil.WaitFor(t, 10*time.Second, "a third serial", func() bool { return soaSerial(t, ts) != second })
	third := soaSerial(t, ts)
	inc, err = xfrClient(ts.addr, "lb.test.", "", xfrSecret, first)
	// SOA, (old SOA, removed, new SOA, added) per step, SOA: two steps
	// of one record each.
	if err != nil || len(inc) != 1+3+4+1 || third != second+1 {
		t.Errorf("IXFR over two steps: %d records (%v)\n%s", len(inc), err, strings.Join(rrStrings(inc), "\n"))
	}

	// Restart: the serial never goes back, although the zone's is lower.
	ts.stop()
	ts2 := start(t, dir+"/dnslb.toml", Options{Probe: probe.probe})
	testutil.WaitFor(t, 10*time.Second, "a serial after restart", func() bool {
		x := ts2.xfr.get("lb.test.")
		return x != nil && x.pub.Load() != nil
	})
	if s := soaSerial(t, ts2); !(s > third) {
		t.Errorf("serial %d after a restart, was %d", s, third)
	}
}
