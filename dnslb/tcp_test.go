package dnslb

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// tcpConfig is a small zone served with the given [server] lines.
func tcpConfig(t testing.TB, server string) string {
	t.Helper()
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = ""
` + server + `
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
`})
	return dir + "/dnslb.toml"
}

// framedQuery is a TCP-framed query for ns1.lb.test. A with ID id.
func framedQuery(id uint16) []byte {
	m := new(dns.Msg)
	m.SetQuestion("ns1.lb.test.", dns.TypeA)
	m.Id = id
	b, _ := m.Pack()
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
}

// TestTCPMaxQueriesDelivered (issue 20 finding 7): a client pipelining
// 12,000 queries on connections that close after tcp_max_queries gets
// every answer the server wrote — exactly tcp_max_queries a connection,
// then an orderly end of stream, never a reset — and, asking the rest
// again on new connections, every one of the 12,000.
func TestTCPMaxQueriesDelivered(t *testing.T) {
	const total, perConn = 12000, 1000
	ts := start(t, tcpConfig(t, fmt.Sprintf("tcp_max_queries = %d", perConn)), Options{})
	answered := make([]bool, total)
	next := 0
	for conns := 0; next < total; conns++ {
		if conns > total/perConn+2 {
			t.Fatalf("%d connections and %d answers", conns, next)
		}
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for id := next; id < total; id++ {
			out = append(out, framedQuery(uint16(id))...)
		}
		go func() { _, _ = c.Write(out) }() // blocks while the server reads; ends when we close
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(c)
		got := 0
		for {
			var l [2]byte
			if _, err := io.ReadFull(r, l[:]); err != nil {
				if err != io.EOF {
					t.Fatalf("connection %d, after %d answers: %v, want an orderly close", conns, got, err)
				}
				break
			}
			b := make([]byte, binary.BigEndian.Uint16(l[:]))
			if _, err := io.ReadFull(r, b); err != nil {
				t.Fatalf("connection %d, answer %d cut short: %v", conns, got+1, err)
			}
			var m dns.Msg
			if err := m.Unpack(b); err != nil || len(m.Answer) != 1 || int(m.Id) != next {
				t.Fatalf("answer %d: id %d (want %d), %v", got+1, m.Id, next, err)
			}
			answered[next] = true
			next++
			got++
		}
		c.Close()
		if want := min(perConn, total-(next-got)); got != want {
			t.Fatalf("connection %d delivered %d answers, want %d", conns, got, want)
		}
	}
}

// TestIdleTCPMemory (issue 20 finding 8): idle connections hold no query
// buffers: 200 of them cost the server far less than 16 KB of heap each
// (they cost some 224 KB each when every connection kept its own).
func TestIdleTCPMemory(t *testing.T) {
	const n = 200
	ts := start(t, tcpConfig(t, "tcp_max_connections = 1000\ntcp_idle_timeout = \"60s\""), Options{})
	// One query first, so that the pool has buffers and the code paths
	// have run.
	if r := ts.ask(t, "tcp", "ns1.lb.test.", dns.TypeA); len(r.Answer) != 1 {
		t.Fatal(r)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	testutil.WaitFor(t, 10*time.Second, "every connection accepted", func() bool { return len(ts.tcpSlots) == n })
	// Each connection answers one query, then waits idle.
	for i, c := range conns {
		if _, err := c.Write(framedQuery(uint16(i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint16(l[:]))); err != nil {
			t.Fatal(err)
		}
	}
	// Two collections empty the buffer pool (the first moves it aside):
	// what is left is what the idle connections hold. Measured until it
	// holds (or 20 s pass): on a loaded machine some server goroutines
	// may not be back at their idle read yet.
	var heap, stack int64
	deadline := time.Now().Add(20 * time.Second)
	for {
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
		stack = (int64(after.StackInuse) - int64(before.StackInuse)) / n
		if heap <= 16<<10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("per idle connection (server and client side): %d bytes of heap, %d of stack", heap, stack)
	if heap > 16<<10 {
		t.Errorf("%d bytes of heap per idle connection, want under 16 KB", heap)
	}
}

// TestTCPSlotsUnderLoad (issue 20 finding 11): clients that each ask once
// a second, within the idle timeout, cannot keep every TCP slot: once more
// than half are taken, idle connections are closed soon after their
// answer, and a new client gets in.
func TestTCPSlotsUnderLoad(t *testing.T) {
	// An idle timeout far beyond the waits below: only the early close
	// under pressure can let the new client in.
	ts := start(t, tcpConfig(t, "tcp_max_connections = 4\ntcp_idle_timeout = \"120s\""), Options{})
	closed := make(chan int, 4)
	stop := make(chan struct{})
	defer close(stop)
	for i := range 4 {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			for id := uint16(0); ; id++ {
				_, _ = c.Write(framedQuery(id))
				_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					c.Close() // as a client does at the end of the stream
					closed <- i
					return
				}
				_, _ = io.ReadFull(c, make([]byte, binary.BigEndian.Uint16(l[:])))
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}
	testutil.WaitFor(t, 20*time.Second, "four slots taken", func() bool { return len(ts.tcpSlots) == 4 })
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
		m := new(dns.Msg)
		m.SetQuestion("ns1.lb.test.", dns.TypeA)
		r, _, err := c.Exchange(m, ts.addr)
		if err == nil && len(r.Answer) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a new client was kept out for 30 s by clients asking once a second: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Error("no slow client was closed")
	}
}
