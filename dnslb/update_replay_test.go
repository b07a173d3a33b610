package dnslb

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// TestUpdateReplay: a signed update captured and sent again within the
// TSIG fudge is answered as the first time and not applied again, over
// UDP and TCP: a TXT added then deleted does not come back.
func TestUpdateReplay(t *testing.T) {
	_, cfg := updateFixture(t)
	ts := start(t, cfg, Options{})
	for i, netw := range transports {
		name := "_acme-challenge.replay" + string(rune('a'+i)) + "." + updZone
		add := addTXT(name, "token")
		add.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
		captured, mac, err := dns.TsigGenerate(add, acmeSecret, "", false)
		if err != nil {
			t.Fatal(err)
		}
		exchange := func() *dns.Msg {
			t.Helper()
			c, err := net.DialTimeout(netw, ts.addr, 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			co := &dns.Conn{Conn: c}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := co.Write(captured); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 65535)
			n, err := co.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			var r dns.Msg
			if err := r.Unpack(buf[:n]); err != nil {
				t.Fatal(err)
			}
			if err := dns.TsigVerify(buf[:n], acmeSecret, mac, false); err != nil { // rewrites buf
				t.Fatalf("%s: the answer's signature: %v", netw, err)
			}
			return &r
		}
		if r := exchange(); r.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: first update: %s", netw, dns.RcodeToString[r.Rcode])
		}
		if got := ts.txt(t, netw, name); len(got) != 1 {
			t.Fatalf("%s: after the update: %v", netw, got)
		}
		del := delTXT(name)
		del.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
		c := &dns.Client{Net: netw, TsigSecret: map[string]string{"acme.": acmeSecret}, Timeout: 3 * time.Second}
		if r, _, err := c.Exchange(del, ts.addr); err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: delete: %v %v", netw, err, r)
		}
		serial := ts.serial(t)
		r := exchange() // the capture again: same answer, signed for it
		if r.Rcode != dns.RcodeSuccess || r.IsTsig() == nil {
			t.Fatalf("%s: replay answered %s, signed %v", netw, dns.RcodeToString[r.Rcode], r.IsTsig() != nil)
		}
		if got := ts.txt(t, netw, name); len(got) != 0 || ts.serial(t) != serial {
			t.Fatalf("%s: the replayed update was applied again: %v, serial %d (was %d)", netw, got, ts.serial(t), serial)
		}
	}
	if n := promtest.ToFloat64(ts.metrics.updates.WithLabelValues("replayed")); n != 2 {
		t.Errorf("replays counted %v, want 2", n)
	}
	if !strings.Contains(ts.logs.String(), "update replayed") {
		t.Error("no log line for the replay")
	}
}
