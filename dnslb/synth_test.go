package dnslb

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// randomLabel is a label of 1-20 letters, digits and hyphens, in mixed case.
func randomLabel(rng *rand.Rand) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	b := make([]byte, 1+rng.IntN(20))
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return string(b)
}

// synthQueries are the conformance table's queries and random names under
// every kind of place in the conformance zones, each plain, without EDNS,
// with DO, with ECS and with a cookie.
func synthQueries(t *testing.T, n int) []*dns.Msg {
	rng := rand.New(rand.NewPCG(1, 2))
	var msgs []*dns.Msg
	for _, tc := range conformance {
		m := new(dns.Msg)
		m.SetQuestion(tc.qname, tc.qtype)
		m.SetEdns0(1232, false)
		if tc.edit != nil {
			tc.edit(m)
		}
		msgs = append(msgs, m)
	}
	places := []string{"example.", "wild.example.", "x.wild.example.", "wcname.example.", "sub.example.", "b.ent.example.", "www.example.",
		"ns1.example.", "hostmaster.example.", "other.test.", "ns1.other.test.", "hostmaster.other.test.", "elsewhere.net."}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX, dns.TypeNS, dns.TypeSOA, dns.TypeCNAME, dns.TypeSRV, dns.TypeDS, dns.TypeANY, dns.TypeHTTPS}
	for range n {
		name := randomLabel(rng) + "." + places[rng.IntN(len(places))]
		if rng.IntN(4) == 0 {
			name = randomLabel(rng) + "." + name
		}
		m := new(dns.Msg)
		m.SetQuestion(name, types[rng.IntN(len(types))])
		m.RecursionDesired = rng.IntN(2) == 0
		m.CheckingDisabled = rng.IntN(4) == 0
		switch rng.IntN(5) {
		case 0: // no EDNS
		case 1:
			m.SetEdns0(1232, false)
		case 2:
			m.SetEdns0(4096, true)
		case 3:
			m.SetEdns0(1232, false)
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(198, 51, 100, 0)})
		case 4:
			m.SetEdns0(512, rng.IntN(2) == 0)
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: fmt.Sprintf("%016x", rng.Uint64())})
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// TestSynthMatchesGeneral: for the conformance table and random names, over
// UDP and TCP limits, the synthesized response is the general path's, byte
// for byte; and the synthesized ones leave the answer cache untouched.
func TestSynthMatchesGeneral(t *testing.T) {
	srv, err := New(confPath, Options{Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.closeListeners()
	synthesized, _ := compareSynth(t, srv, synthQueries(t, 3000))
	if synthesized["NXDOMAIN"] < 500 || synthesized["NODATA"] < 500 || synthesized["wildcard"] < 100 {
		t.Errorf("too few synthesized answers compared: %v", synthesized)
	}
}

// compareSynth serves msgs with synthesized answers and with the general
// path alone, over UDP and TCP limits, and fails on the first difference.
// It returns how many answers of each kind were synthesized, and how many
// queries found their parent remembered (synthMemo).
func compareSynth(t *testing.T, srv *Server, msgs []*dns.Msg) (map[string]int, int) {
	t.Helper()
	src := netip.MustParseAddrPort("192.0.2.99:5353")
	cache := srv.snap.Load().cache
	synthesized := map[string]int{}
	memoHits := 0
	for _, tcp := range []bool{false, true} {
		gw := newWorker(srv, tcp, srv.newStats())
		gw.noSynth = true
		sw := newWorker(srv, tcp, srv.newStats())
		synthBefore := uint64(0)
		for _, m := range msgs {
			req, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			clear(cache.slots)
			general := bytes.Clone(gw.serve(req, src))
			clear(cache.slots)
			synth := sw.serve(req, src)
			if !bytes.Equal(general, synth) {
				var g, s dns.Msg
				_ = g.Unpack(general)
				_ = s.Unpack(synth)
				t.Fatalf("%s %s (tcp %v):\ngeneral % x\n%v\nsynth   % x\n%v", m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], tcp, general, &g, synth, &s)
			}
			if n := sw.stats.paths[pathSynth].Load(); n > synthBefore && len(synth) > 0 {
				synthBefore = n
				var r dns.Msg
				_ = r.Unpack(synth)
				kind := dns.RcodeToString[r.Rcode]
				if r.Rcode == dns.RcodeSuccess {
					kind = "NODATA"
					if len(r.Answer) > 0 {
						kind = "wildcard"
					}
				}
				synthesized[kind]++
			}
		}
		memoHits += sw.memoHits
	}
	t.Logf("%d responses compared; synthesized: %v; parent remembered %d times", 2*len(msgs), synthesized, memoHits)
	return synthesized, memoHits
}

// TestSynthMemoMatchesGeneral: runs of names under one parent — random
// labels, labels of real names, of a zone nested in the parent's zone, of
// the SOA's names — get the general path's response while the worker
// remembers the parent (synthMemo), and after it moves to another parent.
func TestSynthMemoMatchesGeneral(t *testing.T) {
	cfg, err := os.ReadFile(confPath)
	if err != nil {
		t.Fatal(err)
	}
	zone, err := os.ReadFile("../testdata/conformance/example.zone")
	if err != nil {
		t.Fatal(err)
	}
	dir := testutil.WriteFiles(t, map[string]string{"example.zone": string(zone), "dnslb.toml": string(cfg) + `
[[zone]]
origin = "kid.example."
records = [
  "@ 3600 IN SOA ns1.kid.example. hostmaster.example. 1 3600 600 604800 120",
  "@ 3600 IN NS ns1.kid.example.",
  "ns1 3600 IN A 192.0.2.3",
  "*.w 3600 IN A 192.0.2.4",
  "abc 3600 IN TXT \"abc\"",
]
`})
	srv, err := New(dir+"/dnslb.toml", Options{Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.closeListeners()
	rng := rand.New(rand.NewPCG(7, 8))
	parents := map[string][]string{ // parent: labels of real names below it
		"example.":            {"www", "ns1", "mail", "alias", "sub", "wild", "ent", "old", "kid", "mid", "nods", "wcname", "hostmaster", "tonx"},
		"wild.example.":       {"host", "*"},
		"b.ent.example.":      {"a"},
		"ent.example.":        {"b"},
		"old.example.":        {"x"},
		"wcname.example.":     {"x"},
		"sub.example.":        {"ns"},
		"ns1.example.":        {"x"},
		"hostmaster.example.": {"x"},
		"kid.example.":        {"ns1", "w", "abc", "hostmaster"},
		"w.kid.example.":      {"x"},
		"other.test.":         {"ns1"},
		"elsewhere.net.":      {"www"},
	}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX, dns.TypeCNAME, dns.TypeNS}
	var msgs []*dns.Msg
	for round := range 6 {
		for parent, real := range parents { // map order: parents follow each other differently each round
			for i := range 30 {
				label := randomLabel(rng)
				switch {
				case i%3 == 1:
					label = real[rng.IntN(len(real))]
				case i%3 == 2:
					label = strings.Repeat("q", len(real[rng.IntN(len(real))])) // a real name's length
				}
				if rng.IntN(2) == 0 {
					label = strings.ToUpper(label)
				}
				m := new(dns.Msg)
				m.SetQuestion(label+"."+parent, types[rng.IntN(len(types))])
				m.RecursionDesired = round%2 == 0
				switch rng.IntN(3) {
				case 1:
					m.SetEdns0(1232, false)
				case 2:
					m.SetEdns0(512, true)
				}
				msgs = append(msgs, m)
			}
		}
	}
	synthesized, memoHits := compareSynth(t, srv, msgs)
	if synthesized["NXDOMAIN"] < 300 || synthesized["wildcard"] < 50 || memoHits < len(msgs)/2 {
		t.Errorf("too few synthesized answers compared (%v), or too few with the parent remembered (%d)", synthesized, memoHits)
	}
}

// TestRandomNamesKeepCache: a flood of random names — nonexistent, under a
// wildcard, below a cut, under a wildcard CNAME or a DNAME, or in no zone —
// leaves the answers real traffic reuses in the (small) cache.
func TestRandomNamesKeepCache(t *testing.T) {
	srv, err := New(confPath, Options{Logger: discardLogger, CacheSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.closeListeners()
	src := netip.MustParseAddrPort("192.0.2.99:5353")
	w := newWorker(srv, false, srv.newStats())
	pack := func(name string, qtype uint16) []byte {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(1232, false)
		b, _ := m.Pack()
		return b
	}
	real := [][]byte{pack("www.example.", dns.TypeA), pack("www.example.", dns.TypeAAAA), pack("alias.example.", dns.TypeA), pack("example.", dns.TypeNS)}
	cache := srv.snap.Load().cache
	for _, req := range real {
		w.serve(req, src)
		if key, _ := parseQuery(req, &query{}, nil); cache.get(key) == nil {
			t.Fatalf("%q is not cached", key)
		}
	}
	// Nonexistent and wildcard names are synthesized; those below a cut
	// (referrals), under a wildcard CNAME or a DNAME, and in no zone of
	// ours take the general path, whose answers wait at the door.
	suffixes := []string{".example.", ".wild.example.", ".sub.example.", ".wcname.example.", ".old.example.", ".example.net."}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 12000 {
		// The index keeps every name new: short random labels repeat, and
		// a name that comes back is rightly admitted.
		w.serve(pack(randomLabel(rng)+strconv.Itoa(i)+suffixes[i%len(suffixes)], dns.TypeA), src)
	}
	for _, req := range real {
		if key, _ := parseQuery(req, &query{}, nil); cache.get(key) == nil {
			t.Errorf("%q was evicted by random names", key)
		}
	}
	// A made-up name that comes back is cached the second time.
	for _, suffix := range suffixes[2:] {
		req := pack("again"+suffix, dns.TypeA)
		key, _ := parseQuery(req, &query{}, nil)
		w.serve(req, src)
		if cache.get(key) != nil {
			t.Errorf("%q: cached the first time", key)
		}
		w.serve(req, src)
		if cache.get(key) == nil {
			t.Errorf("%q: not cached the second time", key)
		}
	}
}

// TestSynthOnTheWire: random names asked over UDP and TCP of a running
// server get the general path's response.
func TestSynthOnTheWire(t *testing.T) {
	ts := start(t, confPath, Options{})
	src := netip.MustParseAddrPort("127.0.0.1:5353")
	var msgs []*dns.Msg
	for _, m := range synthQueries(t, 300)[len(conformance):] { // random names: each gets a response
		if o := m.IsEdns0(); o != nil && len(o.Option) > 0 {
			if _, ok := o.Option[0].(*dns.EDNS0_COOKIE); ok {
				continue // its timestamp follows the running clock
			}
		}
		msgs = append(msgs, m)
	}
	for _, netw := range transports {
		gw := newWorker(ts.Server, netw == "tcp", ts.newStats())
		gw.noSynth = true
		synthesized := 0
		for _, m := range msgs {
			m = m.Copy()
			m.Question[0].Name = netw + m.Question[0].Name // new names for each transport: none cached yet
			req, _ := m.Pack()
			before := answered(ts.Server, pathSynth)
			got := rawExchange(t, netw, ts.addr, req)
			if answered(ts.Server, pathSynth) > before {
				synthesized++
			}
			want := gw.serve(req, src)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s %s over %s:\ngot  % x\nwant % x", m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], netw, got, want)
			}
		}
		if synthesized < len(msgs)/3 {
			t.Errorf("%s: %d of %d synthesized", netw, synthesized, len(msgs))
		}
	}
}

// rawExchange sends req over netw and returns the raw response.
func rawExchange(t *testing.T, netw, addr string, req []byte) []byte {
	t.Helper()
	c, err := net.DialTimeout(netw, addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65535)
	if netw == "udp" {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return buf[:n]
	}
	if _, err := c.Write(append([]byte{byte(len(req) >> 8), byte(len(req))}, req...)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		t.Fatal(err)
	}
	n := int(buf[0])<<8 | int(buf[1])
	if _, err := io.ReadFull(c, buf[:n]); err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestSynthSignedZone: in a zone with a DNSKEY, DO=1 queries take the
// general path (signatures and denial of existence are its business);
// DO=0 queries are synthesized.
func TestSynthSignedZone(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = ""
[[zone]]
origin = "signed.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1",
  "@ 60 IN DNSKEY 257 3 13 kXKkvWU3vGYfTJGl3qBd4qhiWp5aRs7YtkCJxD2d+t7KXqwahww5IgJtxJT2yFItlggazyfXqJEVOmMJ3qT0tQ==",
  "*.wild 60 IN A 192.0.2.80"]
`})
	srv, err := New(dir+"/dnslb.toml", Options{Logger: discardLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.closeListeners()
	w := newWorker(srv, false, srv.newStats())
	src := netip.MustParseAddrPort("192.0.2.99:5353")
	for _, tc := range []struct {
		name string
		do   bool
	}{{"nope.signed.test.", true}, {"x.wild.signed.test.", true}, {"nope2.signed.test.", false}, {"y.wild.signed.test.", false}} {
		m := new(dns.Msg)
		m.SetQuestion(tc.name, dns.TypeA)
		m.SetEdns0(1232, tc.do)
		req, _ := m.Pack()
		before := w.stats.paths[pathGeneral].Load()
		if w.serve(req, src) == nil {
			t.Fatalf("%s: no response", tc.name)
		}
		if general := w.stats.paths[pathGeneral].Load() > before; general != tc.do {
			t.Errorf("%s DO=%v: general path %v, want %v", tc.name, tc.do, general, tc.do)
		}
	}
}

// TestSynthAfterUpdate: an RFC 2136 update swaps the zone in; synthesized
// answers then carry its new SOA (pieces made with the zone, never stale)
// and are still synthesized.
func TestSynthAfterUpdate(t *testing.T) {
	_, cfg := updateFixture(t)
	ts := start(t, cfg, Options{})
	before := ts.serial(t)
	c := &dns.Client{TsigSecret: map[string]string{"acme.": acmeSecret}, Timeout: 10 * time.Second}
	m := addTXT("_acme-challenge.synth."+updZone, "x")
	m.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
	if r, _, err := c.Exchange(m, ts.addr); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("update: %v %v", r, err)
	}
	after := ts.serial(t)
	if after == before {
		t.Fatal("the update did not change the serial")
	}
	for i, netw := range transports {
		q := new(dns.Msg)
		q.SetQuestion(fmt.Sprintf("random%d.%s", i, updZone), dns.TypeA)
		before := answered(ts.Server, pathSynth)
		r := ts.exchange(t, netw, q)
		if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || r.Ns[0].(*dns.SOA).Serial != after {
			t.Fatalf("%s: %v, want NXDOMAIN with serial %d", netw, r, after)
		}
		if answered(ts.Server, pathSynth) == before {
			t.Errorf("%s: answered by the general path after the update", netw)
		}
	}
}

// TestSynthSignedOnline: in a zone signed online ([zone.dnssec]), DO=0
// random names are synthesized and equal the general path's answers; DO=1
// queries and the apex (where the signer's keys are) take the general
// path.
func TestSynthSignedOnline(t *testing.T) {
	ts, _ := signedServer(t, "ecdsap256sha256", newFakeProbe())
	src := netip.MustParseAddrPort("192.0.2.99:5353")
	rng := rand.New(rand.NewPCG(7, 8))
	synthesized := 0
	for i := range 400 {
		name := randomLabel(rng) + []string{".signed.example.", ".wild.signed.example."}[i%2]
		qtype := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX}[rng.IntN(4)]
		do := i%3 == 0
		if i%50 == 0 {
			name, qtype, do = "signed.example.", dns.TypeDNSKEY, false
		}
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(1232, do)
		req, _ := m.Pack()
		gw := newWorker(ts.Server, false, ts.newStats())
		gw.noSynth = true
		sw := newWorker(ts.Server, false, ts.newStats())
		got := bytes.Clone(sw.serve(req, src))
		wasSynth := sw.stats.paths[pathSynth].Load() > 0
		if wasSynth {
			synthesized++
			if do || name == "signed.example." {
				t.Fatalf("%s %s DO=%v was synthesized", name, dns.TypeToString[qtype], do)
			}
		}
		if want := gw.serve(req, src); !bytes.Equal(got, want) && !do {
			t.Fatalf("%s %s: synthesized\n% x\ngeneral\n% x", name, dns.TypeToString[qtype], got, want)
		}
	}
	if synthesized < 200 {
		t.Errorf("only %d of 400 synthesized", synthesized)
	}
}

// answered returns how many queries srv's workers answered by path p.
func answered(srv *Server, p int) uint64 {
	srv.statsMu.Lock()
	defer srv.statsMu.Unlock()
	n := uint64(0)
	for _, st := range srv.allStats {
		n += st.paths[p].Load()
	}
	return n
}

// seenBefore makes the general path's next answer to req enter the cache,
// as the answer to a question asked a second time does (answerCache.again).
func seenBefore(c *answerCache, req []byte) {
	if key, ok := parseQuery(req, &query{}, nil); ok {
		c.again(string(key))
	}
}
