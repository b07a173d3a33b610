package dnslb

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// udpOutcome sends b and waits for what the server does with it: a
// response, or its dropped counter moving (returned as the count's
// change). It waits generously, so that a response late on a loaded
// machine is not taken for a drop.
func (ts *testServer) udpOutcome(t *testing.T, b []byte) ([]byte, uint64) {
	t.Helper()
	before := ts.scrapeStats().dropped
	c, err := net.Dial("udp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Short reads only to look at the counter in between.
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			return buf[:n], ts.scrapeStats().dropped - before
		}
		if moved := ts.scrapeStats().dropped - before; moved > 0 {
			return nil, moved
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s, neither a response nor a drop")
		}
	}
}

func packQuery(t *testing.T, name string, qtype uint16) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMalformed: what cannot be parsed gets FORMERR when the header can be
// read, nothing otherwise, and the server goes on answering.
func TestMalformed(t *testing.T) {
	ts := start(t, confPath, Options{})
	good := packQuery(t, "www.example.", dns.TypeA)
	tests := []struct {
		name    string
		pkt     []byte
		formerr bool // else no response
	}{
		{"empty", []byte{}, false},
		{"short header", []byte{1, 2, 3, 4, 5}, false},
		{"header only, qdcount 1", []byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, true},
		{"truncated name", append(append([]byte{}, good[:12]...), 3, 'w', 'w'), true},
		{"label too long", append(append([]byte{}, good[:12]...), 64, 'a'), true},
		{"pointer loop in question", append(append([]byte{}, good[:12]...), 0xc0, 12, 0, 1, 0, 1), true},
		{"no question", []byte{0xab, 0xcd, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, true},
		{"two questions", func() []byte {
			m := new(dns.Msg)
			m.Question = []dns.Question{{Name: "www.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}, {Name: "example.", Qtype: dns.TypeSOA, Qclass: dns.ClassINET}}
			b, _ := m.Pack()
			return b
		}(), true},
		{"a response is not answered", func() []byte {
			b := append([]byte{}, good...)
			b[2] |= 0x80
			return b
		}(), false},
		// Not a DNS query: dropped, so that nothing bounces (issue 20 finding 5).
		{"ASCII text", []byte(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n"), false},
		{"unassigned opcode 3", withByte(good, 2, 3<<3), false},
		{"unassigned opcode 15", withByte(good, 2, 15<<3), false},
		{"counts no message could hold", withByte(withByte(good, 6, 0x20), 8, 0x20), false},
		// Sections that are not what the header says (finding 11).
		{"ANCOUNT that lies", withByte(good, 7, 2), true},
		{"ARCOUNT that lies", withByte(good, 11, 1), true},
		{"bytes after the question", append(append([]byte{}, good...), 0, 0, 0), true},
		{"QDCOUNT that lies about a second question", append(withByte(good, 5, 2), 0), true},
		{"no type and class (13 bytes)", []byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, true},
		{"pointer into the header", append(append([]byte{}, good[:12]...), 0xc0, 2, 0, 1, 0, 1), true},
		{"pointer forwards", func() []byte {
			// The question's name points at the name of the OPT record after it.
			b := append([]byte{}, good[:12]...)
			b[11] = 1
			b = append(b, 0xc0, 12+6, 0, 1, 0, 1)
			return append(b, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0)
		}(), true},
		{"ECS address longer than its prefix", ecsQuery(t, 24, []byte{192, 0, 2, 0}), true},
		{"ECS address shorter than its prefix", ecsQuery(t, 24, []byte{192, 0}), true},
		{"OPT with a bad option length", func() []byte {
			m := new(dns.Msg)
			m.SetQuestion("www.example.", dns.TypeA)
			b, _ := m.Pack()
			b[11] = 1 // ARCOUNT 1
			return append(b, 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 8, 0, 8, 0, 20, 0, 1)
		}(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, got := ts.udpOutcome(t, tc.pkt)
			if got != map[bool]uint64{true: 0, false: 1}[tc.formerr] {
				t.Errorf("dropped counter moved by %d", got)
			}
			switch {
			case tc.formerr && resp == nil:
				t.Fatal("no response, want FORMERR")
			case tc.formerr:
				if len(resp) < 12 || resp[3]&0xf != dns.RcodeFormatError || resp[2]&0x80 == 0 || resp[0] != tc.pkt[0] || resp[1] != tc.pkt[1] {
					t.Fatalf("response % x: want a FORMERR response with the query's ID", resp[:min(len(resp), 12)])
				}
			case resp != nil:
				t.Fatalf("response % x, want none", resp)
			}
			// The server still answers.
			if r := ts.ask(t, "udp", "www.example.", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Fatalf("after %s: %v", tc.name, r)
			}
		})
	}
}

// withByte returns a copy of b with b[i] = v.
func withByte(b []byte, i int, v byte) []byte {
	out := append([]byte{}, b...)
	out[i] = v
	return out
}

// ecsQuery is a query for www.example. A with a client subnet option of
// family 1 (IPv4), source prefix prefix and the address bytes addr as sent.
func ecsQuery(t *testing.T, prefix uint8, addr []byte) []byte {
	t.Helper()
	b := packQuery(t, "www.example.", dns.TypeA)
	b[11] = 1
	opt := []byte{0, 8, 0, byte(4 + len(addr)), 0, 1, prefix, 0}
	opt = append(opt, addr...)
	b = append(b, 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, byte(len(opt)))
	return append(b, opt...)
}

// TestTCPPipelined: several queries written at once on one connection are
// all answered (RFC 7766 §6.2.1.1).
func TestTCPPipelined(t *testing.T) {
	ts := start(t, confPath, Options{})
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	names := []string{"www.example.", "alias.example.", "nope.example.", "mail.example.", "sub.example."}
	var out []byte
	for i, n := range names {
		m := new(dns.Msg)
		m.SetQuestion(n, dns.TypeA)
		m.Id = uint16(100 + i)
		b, _ := m.Pack()
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	seen := map[uint16]bool{}
	for range names {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		var m dns.Msg
		if err := m.Unpack(b); err != nil {
			t.Fatal(err)
		}
		seen[m.Id] = true
	}
	for i := range names {
		if !seen[uint16(100+i)] {
			t.Errorf("no answer to query %d (%s)", 100+i, names[i])
		}
	}
}

// TestTCPIdleTimeout: an idle connection is closed by the server.
func TestTCPIdleTimeout(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{
		"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = ""
tcp_idle_timeout = "200ms"
[[zone]]
origin = "example."
records = ["@ 60 IN SOA ns1 hm 1 2 3 4 5", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
`})
	ts := start(t, dir+"/dnslb.toml", Options{})
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Generous, yet short of the 10 s default: only the configured
	// timeout can close it in time.
	_ = c.SetReadDeadline(time.Now().Add(9 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read: %v, want EOF from the server closing the idle connection", err)
	}
}

// TestIPv6Listener: an IPv6 listen address serves UDP and TCP, and the
// hash policy keys IPv6 clients by their /56.
func TestIPv6Listener(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": `[server]
listen = ["[::1]:0"]
http = ""
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 2 3 4 5", "@ 60 IN NS ns1", "ns1 60 IN AAAA ::1"]
[[pool]]
name = "www.lb.test."
policy = "hash"
answers = 1
members = [{ address = "2001:db8::1" }, { address = "2001:db8::2" }, { address = "2001:db8::3" }]
`})
	ts := start(t, dir+"/dnslb.toml", Options{})
	if !strings.HasPrefix(ts.addr, "[::1]:") {
		t.Fatalf("listening on %s", ts.addr)
	}
	var first string
	for _, netw := range transports {
		r := ts.ask(t, netw, "www.lb.test.", dns.TypeAAAA)
		if len(r.Answer) != 1 || !r.Authoritative {
			t.Fatalf("%s: %v", netw, r)
		}
		got := r.Answer[0].(*dns.AAAA).AAAA.String()
		if first == "" {
			first = got
		} else if got != first {
			t.Errorf("the same client (::1) got %s over TCP and %s over UDP", got, first)
		}
	}
}
