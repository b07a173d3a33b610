package dnslb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

const (
	updZone      = "lb.example.com."
	acmeSecret   = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=" // 32 bytes
	otherSecret  = "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXItMTI=" // 32 bytes
	updZoneFile  = "$ORIGIN lb.example.com.\n@ 3600 IN SOA ns1 hostmaster 100 3600 600 604800 300\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.1\nstatic 300 IN TXT \"kept\"\n"
	updJournalIn = "journal"
)

// updateFixture writes a config whose zone takes updates from key acme
// for _acme-challenge names (TXT), and has a pool at www; key other is
// defined but named by no rule. The journal lives in the folder journal/.
func updateFixture(t testing.TB) (dir, cfg string) {
	t.Helper()
	dir = testutil.WriteFiles(t, map[string]string{
		"acme.key":  acmeSecret + "\n",
		"other.key": otherSecret + "\n",
		"zone":      updZoneFile,
		"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = ""
[tsig.acme]
secret_file = "acme.key"
[tsig.other]
algorithm = "hmac-sha512"
secret_file = "other.key"
[[zone]]
origin = "lb.example.com."
file = "zone"
journal = "journal/lb.jnl"
update = [{ key = "acme", names = ["_acme-challenge.lb.example.com.", "_acme-challenge.*.lb.example.com."], types = ["TXT"] }]
[[zone]]
origin = "static.example."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
[[pool]]
name = "www.lb.example.com."
policy = "all"
members = [{ address = "192.0.2.10" }]
`,
	})
	if err := os.Mkdir(filepath.Join(dir, updJournalIn), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, "dnslb.toml")
}

// sendUpdate signs m with key (secret; "" sends it unsigned) at time
// signed, sends it over netw and returns the response's wire form,
// unverified: tests judge the TSIG themselves.
func sendUpdate(t *testing.T, netw, addr string, m *dns.Msg, key, alg, secret string, signed time.Time) (resp []byte, mac string) {
	t.Helper()
	var req []byte
	var err error
	if key != "" {
		m.SetTsig(key, alg, 300, signed.Unix())
		req, mac, err = dns.TsigGenerate(m, secret, "", false)
	} else {
		req, err = m.Pack()
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout(netw, addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if netw == "tcp" {
		req = append(binary.BigEndian.AppendUint16(nil, uint16(len(req))), req...)
	}
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	if netw == "tcp" {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, out); err != nil {
			t.Fatal(err)
		}
		return out, mac
	}
	out := make([]byte, 65535)
	n, err := c.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	return out[:n], mac
}

func addTXT(name, txt string) *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(updZone)
	rr, _ := dns.NewRR(fmt.Sprintf("%s 60 IN TXT %q", name, txt))
	m.Insert([]dns.RR{rr})
	return m
}

func delTXT(name string) *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(updZone)
	rr, _ := dns.NewRR(name + " 0 IN TXT \"\"")
	m.RemoveRRset([]dns.RR{rr})
	return m
}

func unpack(t *testing.T, b []byte) *dns.Msg {
	t.Helper()
	var m dns.Msg
	if err := m.Unpack(b); err != nil {
		t.Fatal(err)
	}
	return &m
}

func (ts *testServer) txt(t *testing.T, netw, name string) []string {
	t.Helper()
	r := ts.ask(t, netw, name, dns.TypeTXT)
	var out []string
	for _, rr := range r.Answer {
		if x, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(x.Txt, ""))
		}
	}
	return out
}

func (ts *testServer) serial(t *testing.T) uint32 {
	t.Helper()
	r := ts.ask(t, "udp", updZone, dns.TypeSOA)
	if len(r.Answer) != 1 {
		t.Fatalf("SOA: %v", r)
	}
	return r.Answer[0].(*dns.SOA).Serial
}

// TestUpdateTSIG is the table of who may update what, over UDP and TCP.
func TestUpdateTSIG(t *testing.T) {
	_, cfg := updateFixture(t)
	ts := start(t, cfg, Options{})
	name := "_acme-challenge." + updZone
	now := time.Now()
	for _, netw := range transports {
		for _, tc := range []struct {
			desc     string
			m        *dns.Msg
			key, alg string
			secret   string
			at       time.Time
			rcode    int
			tsigErr  uint16
			signed   bool // the response carries a MAC
		}{
			{"unsigned", addTXT(name, "x"), "", "", "", now, dns.RcodeRefused, 0, false},
			{"wrong secret", addTXT(name, "x"), "acme.", dns.HmacSHA256, otherSecret, now, dns.RcodeNotAuth, dns.RcodeBadSig, false},
			{"unknown key", addTXT(name, "x"), "nobody.", dns.HmacSHA256, acmeSecret, now, dns.RcodeNotAuth, dns.RcodeBadKey, false},
			{"wrong algorithm", addTXT(name, "x"), "acme.", dns.HmacSHA512, acmeSecret, now, dns.RcodeNotAuth, dns.RcodeBadKey, false},
			{"time outside the fudge", addTXT(name, "x"), "acme.", dns.HmacSHA256, acmeSecret, now.Add(-time.Hour), dns.RcodeNotAuth, dns.RcodeBadTime, true},
			{"key named by no rule", addTXT(name, "x"), "other.", dns.HmacSHA512, otherSecret, now, dns.RcodeRefused, 0, true},
			{"name not allowed", addTXT("other."+updZone, "x"), "acme.", dns.HmacSHA256, acmeSecret, now, dns.RcodeRefused, 0, true},
			{"pool refused", func() *dns.Msg {
				m := new(dns.Msg)
				m.SetUpdate(updZone)
				rr, _ := dns.NewRR("www.lb.example.com. 60 IN A 192.0.2.99")
				m.Insert([]dns.RR{rr})
				return m
			}(), "acme.", dns.HmacSHA256, acmeSecret, now, dns.RcodeRefused, 0, true},
			{"not our zone", func() *dns.Msg { m := new(dns.Msg); m.SetUpdate("other.example."); return m }(), "acme.", dns.HmacSHA256, acmeSecret, now, dns.RcodeNotAuth, 0, true},
			{"zone takes no updates", func() *dns.Msg { m := new(dns.Msg); m.SetUpdate("static.example."); return m }(), "acme.", dns.HmacSHA256, acmeSecret, now, dns.RcodeRefused, 0, true},
		} {
			t.Run(netw+"/"+tc.desc, func(t *testing.T) {
				before := ts.serial(t)
				out, reqMAC := sendUpdate(t, netw, ts.addr, tc.m, tc.key, tc.alg, tc.secret, tc.at)
				r := unpack(t, out)
				if r.Rcode != tc.rcode || r.Opcode != dns.OpcodeUpdate || !r.Response {
					t.Fatalf("rcode %s opcode %d, want %s", dns.RcodeToString[r.Rcode], r.Opcode, dns.RcodeToString[tc.rcode])
				}
				if tc.key == "" {
					if r.IsTsig() != nil {
						t.Fatal("an unsigned request got a TSIG")
					}
				} else {
					ts := r.IsTsig()
					if ts == nil || ts.Error != tc.tsigErr || (ts.MAC != "") != tc.signed {
						t.Fatalf("response TSIG %v, want error %d, signed %v", ts, tc.tsigErr, tc.signed)
					}
					if tc.signed && tc.rcode != dns.RcodeNotAuth { // miekg/dns verifies no NOTAUTH response
						if err := dns.TsigVerify(out, tc.secret, reqMAC, false); err != nil {
							t.Fatalf("response signature: %v", err)
						}
					}
					if tc.tsigErr == dns.RcodeBadTime && len(ts.OtherData) != 12 {
						t.Fatalf("BADTIME without our time: %q", ts.OtherData)
					}
				}
				if got := ts.serial(t); got != before {
					t.Fatalf("serial moved %d → %d", before, got)
				}
			})
		}
	}
	if !strings.Contains(ts.logs.String(), "pool's name") {
		t.Error("no log line says why the pool update was refused")
	}
	for res, n := range map[string]float64{"refused": 10, "notauth": 10, "accepted": 0} {
		if got := promtest.ToFloat64(ts.metrics.updates.WithLabelValues(res)); got != n {
			t.Errorf("dnslb_updates_total{result=%q} = %v, want %v", res, got, n)
		}
	}
}

// TestUpdateAddDelete: an accepted update is seen by the next query (the
// answer cache never serves what it removed), raises the serial, is kept
// by a reload and a restart; the operator's file is not touched.
func TestUpdateAddDelete(t *testing.T) {
	dir, cfg := updateFixture(t)
	ts := start(t, cfg, Options{})
	c := &dns.Client{TsigSecret: map[string]string{"acme.": acmeSecret}, Timeout: 10 * time.Second}
	send := func(netw string, m *dns.Msg) int {
		t.Helper()
		m.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
		c.Net = netw
		r, _, err := c.Exchange(m, ts.addr) // verifies the response's TSIG
		if err != nil {
			t.Fatalf("%s update: %v", netw, err)
		}
		return r.Rcode
	}
	serial := ts.serial(t)
	for i, netw := range transports {
		name := fmt.Sprintf("_acme-challenge.h%d.%s", i, updZone)
		if got := ts.txt(t, netw, name); len(got) != 0 { // cached as NXDOMAIN now
			t.Fatalf("before: %v", got)
		}
		if rc := send(netw, addTXT(name, "token-"+netw)); rc != dns.RcodeSuccess {
			t.Fatalf("add: %s", dns.RcodeToString[rc])
		}
		if got := ts.txt(t, netw, name); len(got) != 1 || got[0] != "token-"+netw {
			t.Fatalf("after add: %v", got)
		}
		serial++
		if got := ts.serial(t); got != serial {
			t.Fatalf("serial %d, want %d", got, serial)
		}
		if rc := send(netw, delTXT(name)); rc != dns.RcodeSuccess {
			t.Fatalf("delete: %s", dns.RcodeToString[rc])
		}
		if got := ts.txt(t, netw, name); len(got) != 0 {
			t.Fatalf("after delete the answer still has %v", got)
		}
		serial++
		if got := ts.serial(t); got != serial {
			t.Fatalf("serial %d, want %d", got, serial)
		}
	}
	// Deleting what is not there changes nothing: no new serial.
	if rc := send("udp", delTXT("_acme-challenge."+updZone)); rc != dns.RcodeSuccess || ts.serial(t) != serial {
		t.Fatalf("empty delete: %s, serial %d", dns.RcodeToString[rc], ts.serial(t))
	}
	// Prerequisites over the wire: the rcodes of RFC 2136 §3.2.
	keep := "_acme-challenge.keep." + updZone
	if rc := send("tcp", addTXT(keep, "kept")); rc != dns.RcodeSuccess {
		t.Fatal(dns.RcodeToString[rc])
	}
	serial++
	rr := func(s string) []dns.RR { r, _ := dns.NewRR(s); return []dns.RR{r} }
	for _, tc := range []struct {
		desc  string
		pre   func(m *dns.Msg)
		rcode int
	}{
		{"name in use", func(m *dns.Msg) { m.NameUsed(rr("nothing.lb.example.com. 0 IN A 0.0.0.0")) }, dns.RcodeNameError},
		{"name not in use", func(m *dns.Msg) { m.NameNotUsed(rr(keep + " 0 IN A 0.0.0.0")) }, dns.RcodeYXDomain},
		{"RRset exists", func(m *dns.Msg) { m.RRsetUsed(rr(keep + " 0 IN A 0.0.0.0")) }, dns.RcodeNXRrset},
		{"RRset does not exist", func(m *dns.Msg) { m.RRsetNotUsed(rr(keep + " 0 IN TXT x")) }, dns.RcodeYXRrset},
		{"RRset holds", func(m *dns.Msg) { m.Used(rr(keep + " 0 IN TXT other")) }, dns.RcodeNXRrset},
	} {
		m := addTXT("_acme-challenge.pre."+updZone, "x")
		tc.pre(m)
		if rc := send("udp", m); rc != tc.rcode {
			t.Errorf("prerequisite %s: %s, want %s", tc.desc, dns.RcodeToString[rc], dns.RcodeToString[tc.rcode])
		}
	}
	if ts.serial(t) != serial || len(ts.txt(t, "udp", "_acme-challenge.pre."+updZone)) != 0 {
		t.Fatal("a failed prerequisite changed the zone")
	}
	// A reload replays the journal over the file.
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := ts.txt(t, "udp", keep); len(got) != 1 || ts.serial(t) != serial {
		t.Fatalf("after reload: %v, serial %d want %d", got, ts.serial(t), serial)
	}
	// So does a restart.
	ts.stop()
	ts = start(t, cfg, Options{})
	if got := ts.txt(t, "tcp", keep); len(got) != 1 || got[0] != "kept" || ts.serial(t) != serial {
		t.Fatalf("after restart: %v, serial %d want %d", got, ts.serial(t), serial)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "zone")); string(b) != updZoneFile {
		t.Fatal("the zone file was rewritten")
	}
	var dump bytes.Buffer
	if err := DumpZone(cfg, "lb.example.com", &dump); err != nil || !strings.Contains(dump.String(), keep) || !strings.Contains(dump.String(), "pool www.lb.example.com.") {
		t.Fatalf("dump: %v\n%s", err, dump.String())
	}
	if got := promtest.ToFloat64(ts.metrics.updates.WithLabelValues("accepted")); got != 0 {
		t.Fatalf("a new server counted %v updates", got) // counters start with the process
	}
}

// TestUpdateJournalUnwritable: when the journal cannot be written the
// update fails with SERVFAIL, nothing of it is served, earlier updates
// stay, and the server keeps answering. The journal's folder is replaced
// by a file: open fails with ENOTDIR, for root too.
func TestUpdateJournalUnwritable(t *testing.T) {
	dir, cfg := updateFixture(t)
	ts := start(t, cfg, Options{})
	c := &dns.Client{TsigSecret: map[string]string{"acme.": acmeSecret}, Timeout: 10 * time.Second}
	send := func(m *dns.Msg) int {
		t.Helper()
		m.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
		r, _, err := c.Exchange(m, ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		return r.Rcode
	}
	first, second := "_acme-challenge.one."+updZone, "_acme-challenge.two."+updZone
	if rc := send(addTXT(first, "1")); rc != dns.RcodeSuccess {
		t.Fatal(dns.RcodeToString[rc])
	}
	serial := ts.serial(t)
	jdir := filepath.Join(dir, updJournalIn)
	if err := os.Rename(jdir, jdir+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jdir, []byte("not a folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rc := send(addTXT(second, "2")); rc != dns.RcodeServerFailure {
		t.Fatalf("update with an unwritable journal: %s", dns.RcodeToString[rc])
	}
	if got := ts.txt(t, "udp", second); len(got) != 0 || ts.serial(t) != serial {
		t.Fatalf("half applied: %v, serial %d", got, ts.serial(t))
	}
	if got := ts.txt(t, "tcp", first); len(got) != 1 {
		t.Fatalf("the earlier update is gone: %v", got)
	}
	if !strings.Contains(ts.logs.String(), "journal cannot be written") {
		t.Error("no log line")
	}
	if got := promtest.ToFloat64(ts.metrics.updates.WithLabelValues("servfail")); got != 1 {
		t.Errorf("servfail count %v", got)
	}
	// Writable again: the update goes through and both survive a restart.
	_ = os.Remove(jdir)
	if err := os.Rename(jdir+".moved", jdir); err != nil {
		t.Fatal(err)
	}
	if rc := send(addTXT(second, "2")); rc != dns.RcodeSuccess {
		t.Fatal(dns.RcodeToString[rc])
	}
	ts.stop()
	ts = start(t, cfg, Options{})
	if len(ts.txt(t, "udp", first)) != 1 || len(ts.txt(t, "udp", second)) != 1 || ts.serial(t) != serial+1 {
		t.Fatalf("after restart: %v %v serial %d", ts.txt(t, "udp", first), ts.txt(t, "udp", second), ts.serial(t))
	}
}

// TestUpdateFileSerialMoved: when the operator moves the zone file's
// serial, the file wins: the journal is not replayed (a warning says so)
// and the next update sets it aside as .old and starts a new one.
func TestUpdateFileSerialMoved(t *testing.T) {
	dir, cfg := updateFixture(t)
	ts := start(t, cfg, Options{})
	c := &dns.Client{TsigSecret: map[string]string{"acme.": acmeSecret}, Timeout: 10 * time.Second}
	send := func(m *dns.Msg) {
		t.Helper()
		m.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
		if r, _, err := c.Exchange(m, ts.addr); err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("%v %v", r, err)
		}
	}
	old := "_acme-challenge.old." + updZone
	send(addTXT(old, "x"))
	// Same serial, other content: the journal still applies over it.
	edited := strings.Replace(updZoneFile, `"kept"`, `"edited"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "zone"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(ts.txt(t, "udp", old)) != 1 || ts.txt(t, "udp", "static."+updZone)[0] != "edited" {
		t.Fatal("an edit without a new serial: the journal should still apply")
	}
	bumped := strings.Replace(edited, " 100 ", " 200 ", 1)
	if err := os.WriteFile(filepath.Join(dir, "zone"), []byte(bumped), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(ts.txt(t, "udp", old)) != 0 || ts.serial(t) != 200 {
		t.Fatalf("file serial moved: the journal was replayed (serial %d)", ts.serial(t))
	}
	if !strings.Contains(ts.logs.String(), "served without the journal") {
		t.Error("no warning")
	}
	send(addTXT("_acme-challenge.new."+updZone, "y"))
	if ts.serial(t) != 201 {
		t.Fatalf("serial %d", ts.serial(t))
	}
	if _, err := os.Stat(filepath.Join(dir, updJournalIn, "lb.jnl.old")); err != nil {
		t.Fatal("the old journal was not set aside")
	}
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(ts.txt(t, "udp", "_acme-challenge.new."+updZone)) != 1 || len(ts.txt(t, "udp", old)) != 0 || ts.serial(t) != 201 {
		t.Fatal("the new journal does not replay over the new file")
	}
	if _, err := ClearJournal(cfg, updZone); err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(ts.txt(t, "udp", "_acme-challenge.new."+updZone)) != 0 || ts.serial(t) != 200 {
		t.Fatal("after -clear-journal and a reload the file alone should be served")
	}
}

// TestUpdateUnderQueries: while clients query, updates swap zones in; no
// query fails, the serial a client sees never goes back, and each answer
// after an acknowledged update has it.
func TestUpdateUnderQueries(t *testing.T) {
	_, cfg := updateFixture(t)
	ts := start(t, cfg, Options{})
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 3 {
		go func() {
			c := &dns.Client{Timeout: 10 * time.Second}
			last := uint32(0)
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				m := new(dns.Msg)
				m.SetQuestion(updZone, dns.TypeSOA)
				r, _, err := c.Exchange(m, ts.addr)
				if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
					errs <- fmt.Errorf("SOA query: %v %v", r, err)
					return
				}
				s := r.Answer[0].(*dns.SOA).Serial
				if s < last {
					errs <- fmt.Errorf("serial went back from %d to %d", last, s)
					return
				}
				last = s
			}
		}()
	}
	c := &dns.Client{TsigSecret: map[string]string{"acme.": acmeSecret}, Timeout: 10 * time.Second}
	name := "_acme-challenge.busy." + updZone
	for i := range 20 {
		m := addTXT(name, fmt.Sprint(i))
		if i%2 == 1 {
			m = delTXT(name)
		}
		m.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
		if r, _, err := c.Exchange(m, ts.addr); err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("update %d: %v %v", i, r, err)
		}
		if got := ts.txt(t, "udp", name); (len(got) == 1) != (i%2 == 0) {
			t.Fatalf("after update %d: %v", i, got)
		}
	}
	close(stop)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestUpdateRejections: malformed updates get FORMERR, records outside the
// zone NOTZONE, each counted under its result.
func TestUpdateRejections(t *testing.T) {
	_, cfg := updateFixture(t)
	ts := start(t, cfg, Options{})
	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{"acme.": acmeSecret}, Timeout: 10 * time.Second}
	for _, tc := range []struct {
		desc   string
		m      func() *dns.Msg
		rcode  int
		result string
	}{
		{"record outside the zone", func() *dns.Msg { return addTXT("_acme-challenge.other.example.", "x") }, dns.RcodeNotZone, "notzone"},
		{"zone section not SOA", func() *dns.Msg {
			m := addTXT("_acme-challenge."+updZone, "x")
			m.Question[0].Qtype = dns.TypeA
			return m
		}, dns.RcodeFormatError, "formerr"},
		{"prerequisite with a TTL", func() *dns.Msg {
			m := addTXT("_acme-challenge."+updZone, "x")
			// "ns1 exists" (class ANY, no data), but with a TTL: RFC 2136 §3.2.1.
			m.Answer = append(m.Answer, &dns.ANY{Hdr: dns.RR_Header{Name: "ns1.lb.example.com.", Rrtype: dns.TypeA, Class: dns.ClassANY, Ttl: 60}})
			return m
		}, dns.RcodeFormatError, "formerr"},
	} {
		m := tc.m()
		m.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
		r, _, err := c.Exchange(m, ts.addr)
		if err != nil || r.Rcode != tc.rcode {
			t.Errorf("%s: %v %v, want %s", tc.desc, r, err, dns.RcodeToString[tc.rcode])
		}
	}
	for res, n := range map[string]float64{"notzone": 1, "formerr": 2} {
		if got := promtest.ToFloat64(ts.metrics.updates.WithLabelValues(res)); got != n {
			t.Errorf("dnslb_updates_total{result=%q} = %v, want %v", res, got, n)
		}
	}
}

// fakeUpgrader opens every socket itself and runs upgrade as the new
// binary's start.
type fakeUpgrader struct {
	upgrade func()
	exit    chan struct{}
}

func (u *fakeUpgrader) Fd(string) (int, error)     { return -1, nil }
func (u *fakeUpgrader) Pass(string, int) error     { return nil }
func (u *fakeUpgrader) State() ([]byte, error)     { return nil, nil }
func (u *fakeUpgrader) Ready() error               { return nil }
func (u *fakeUpgrader) Exit() <-chan struct{}      { return u.exit }
func (u *fakeUpgrader) Upgrade(state []byte) error { u.upgrade(); return nil }
func (u *fakeUpgrader) Listener(_ string, open func() (net.Listener, error)) (net.Listener, error) {
	return open()
}

// TestUpdateDuringUpgrade: an update that arrives while a new binary starts
// (and reads the journals) or after it serves is not applied by the old
// process: it would be missing from the new process's zone.
func TestUpdateDuringUpgrade(t *testing.T) {
	dir, cfg := updateFixture(t)
	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{"acme.": acmeSecret}, Timeout: 10 * time.Second}
	got := make(chan int, 1)
	var ts *testServer
	u := &fakeUpgrader{exit: make(chan struct{})}
	u.upgrade = func() {
		go func() {
			m := addTXT("_acme-challenge.late."+updZone, "x")
			m.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
			r, _, err := c.Exchange(m, ts.addr)
			if err != nil {
				t.Error(err)
				got <- -1
				return
			}
			got <- r.Rcode
		}()
		time.Sleep(100 * time.Millisecond) // the new binary starting
	}
	ts = start(t, cfg, Options{Upgrader: u})
	if err := ts.Upgrade(); err != nil {
		t.Fatal(err)
	}
	if rc := <-got; rc != dns.RcodeServerFailure {
		t.Fatalf("update during the upgrade: %s, want SERVFAIL", dns.RcodeToString[rc])
	}
	if _, err := os.Stat(filepath.Join(dir, updJournalIn, "lb.jnl")); !os.IsNotExist(err) {
		t.Fatalf("the old process journaled an update after handing over: %v", err)
	}
}
