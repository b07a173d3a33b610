package dnslb

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// queryFrom sends one query from a chosen local address and returns the
// response, or nil when none came within wait.
func queryFrom(t *testing.T, local, server string, name string, wait time.Duration) *dns.Msg {
	t.Helper()
	la, _ := net.ResolveUDPAddr("udp", local+":0")
	ra, _ := net.ResolveUDPAddr("udp", server)
	c, err := net.DialUDP("udp", la, ra)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	b, _ := m.Pack()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRRL: a flooding source is limited — most responses dropped, every
// second one of those sent truncated — while another source is answered
// normally; TCP is never limited.
func TestRRL(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = ""
[rrl]
responses_per_second = 5
slip = 2
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1", "www 60 IN A 192.0.2.80"]
`})
	ts := start(t, filepath.Join(dir, "dnslb.toml"), Options{})
	// A flood of 60 queries from 127.0.1.1 (its /24).
	resps, dropped := ts.flood(t, "127.0.1.1", 60, func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("www.lb.test.", dns.TypeA)
		return m
	})
	var answered, slipped int
	for _, r := range resps {
		switch {
		case r.Truncated && len(r.Answer) == 0:
			slipped++
		case len(r.Answer) == 1:
			answered++
		default:
			t.Errorf("neither an answer nor a slip: %v", r)
		}
	}
	t.Logf("flood: %d answered, %d slipped, %d dropped", answered, slipped, dropped)
	if answered > 15 || dropped < 15 || slipped < 15 {
		t.Errorf("flood: %d answered, %d slipped, %d dropped; want ≈5 answered and the rest split between drops and slips", answered, slipped, dropped)
	}
	// Another source is answered every time.
	for range 5 {
		// A generous wait: a loaded machine may answer late, never not.
		if r := queryFrom(t, "127.0.2.1", ts.addr, "www.lb.test.", 5*time.Second); r == nil || len(r.Answer) != 1 {
			t.Fatalf("another source was limited: %v", r)
		}
	}
	// TCP from the flooding source is answered.
	c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.1.1")}}}
	m := new(dns.Msg)
	m.SetQuestion("www.lb.test.", dns.TypeA)
	if r, _, err := c.Exchange(m, ts.addr); err != nil || len(r.Answer) != 1 {
		t.Fatalf("TCP from the limited source: %v %v", r, err)
	}
	if s := ts.scrapeStats(); s.rrlDrops != uint64(dropped) || s.rrlSlips != uint64(slipped) {
		t.Errorf("rrl metrics: drops %d slips %d, want %d and %d", s.rrlDrops, s.rrlSlips, dropped, slipped)
	}
}

// flood sends n queries (from query, numbered 1 to n) at once from one
// socket of local, and returns the responses once they and the server's
// count of responses it dropped meanwhile account for all n. It waits
// generously: a response late on a loaded machine is not taken for a
// dropped one, as a short read deadline per query would.
func (ts *testServer) flood(t *testing.T, local string, n int, query func() *dns.Msg) (resps []*dns.Msg, dropped int) {
	t.Helper()
	before := ts.scrapeStats().rrlDrops
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(local)}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ts.addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range n {
		m := query()
		m.Id = uint16(i + 1)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint16]bool{}
	deadline := time.Now().Add(20 * time.Second)
	buf := make([]byte, 65535)
	for {
		dropped = int(ts.scrapeStats().rrlDrops - before)
		if len(resps)+dropped >= n {
			return resps, dropped
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s, %d responses and %d drops for %d queries", len(resps), dropped, n)
		}
		// Short reads only to look at the drop count again in between.
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		k, err := c.Read(buf)
		if err != nil {
			continue
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:k]); err != nil {
			t.Fatal(err)
		}
		if seen[r.Id] {
			t.Fatalf("two responses to query %d", r.Id)
		}
		seen[r.Id] = true
		resps = append(resps, r)
	}
}

type statsTotals struct{ rrlDrops, rrlSlips, panics, dropped uint64 }

func (ts *testServer) scrapeStats() statsTotals {
	ts.statsMu.Lock()
	defer ts.statsMu.Unlock()
	var out statsTotals
	for _, st := range ts.allStats {
		out.rrlDrops += st.rrlDrops.Load()
		out.rrlSlips += st.rrlSlips.Load()
		out.panics += st.panics.Load()
		out.dropped += st.dropped.Load()
	}
	return out
}

// TestSlowloris: a client that sends a partial query and stalls neither
// blocks other TCP clients nor holds its connection beyond the read timeout.
func TestSlowloris(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = ""
tcp_read_timeout = "300ms"
tcp_idle_timeout = "60s"
tcp_max_connections = 4
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
`})
	ts := start(t, filepath.Join(dir, "dnslb.toml"), Options{})
	slow, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], 40)
	if _, err := slow.Write(append(b[:], 0xab)); err != nil { // length, then one byte of 40
		t.Fatal(err)
	}
	// Others are answered meanwhile.
	for range 3 {
		if r := ts.ask(t, "tcp", "ns1.lb.test.", dns.TypeA); len(r.Answer) != 1 {
			t.Fatalf("blocked by the slow client: %v", r)
		}
	}
	// The slow one is cut off after the read timeout: the idle timeout
	// (60 s) is longer than this generous wait, so nothing else closes it.
	_ = slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := slow.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("slow client: %v, want the server to close it", err)
	}
	// A full house of idle clients: a further connection is closed at
	// once, and the server answers again once they are gone.
	var idle []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	testutil.WaitFor(t, 20*time.Second, "slots taken", func() bool { return len(ts.tcpSlots) == 4 })
	extra, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = extra.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("connection beyond tcp_max_connections: %v, want closed", err)
	}
	extra.Close()
	for _, c := range idle {
		c.Close()
	}
	testutil.WaitFor(t, 20*time.Second, "slots freed", func() bool { return len(ts.tcpSlots) == 0 })
	if r := ts.ask(t, "tcp", "ns1.lb.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Fatalf("after the flood: %v", r)
	}
}

// TestPanicAnswersServfail: a panic while answering one query gives that
// query SERVFAIL, is counted, and the next query is answered.
func TestPanicAnswersServfail(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": poolConfig("", `type = "none"`, "all", []string{"192.0.2.1", "192.0.2.2"}, "")})
	ts := start(t, filepath.Join(dir, "dnslb.toml"), Options{})
	good := ts.snap.Load()
	// A snapshot whose pool is broken: a member without its state makes
	// the policy dereference nil.
	broken := *good
	broken.cache = newAnswerCache(16)
	brokenPool := *good.pools[0]
	old := good.pools[0].families[0]
	brokenPool.families[0] = &family{
		pool: &brokenPool, qtype: old.qtype, policy: old.policy, ttl: old.ttl, health: old.health,
		members: append([]*member{{addr: old.members[0].addr}}, old.members[1:]...),
	}
	broken.pools = []*pool{&brokenPool}
	ts.snap.Store(&broken)
	for _, netw := range transports {
		if r := ts.ask(t, netw, "www.lb.test.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("%s: rcode %s, want SERVFAIL", netw, dns.RcodeToString[r.Rcode])
		}
		if r := ts.ask(t, netw, "ns1.lb.test.", dns.TypeA); len(r.Answer) != 1 {
			t.Fatalf("%s: next query after the panic: %v", netw, r)
		}
	}
	ts.snap.Store(good)
	if r := ts.ask(t, "udp", "www.lb.test.", dns.TypeA); len(r.Answer) != 2 {
		t.Fatalf("restored: %v", r)
	}
	if p := ts.scrapeStats().panics; p != 2 {
		t.Errorf("%d panics counted, want 2", p)
	}
}
