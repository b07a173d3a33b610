package dnslb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// The fuzz targets of the query handler (UDP and TCP framing) and of the
// config loader. Their seeds are raw files in ../testdata/fuzz/<Target>/
// (the project keeps test data at the top level, where `go test` does not
// look for corpora by itself); every crash found is kept there under a name
// that says what it was, and `go test` replays them all.

// conformanceQueries packs the query of every conformance case as the
// conformance test sends it, so that the corpus follows the table.
func conformanceQueries() [][]byte {
	var out [][]byte
	for i, tc := range conformance {
		m := tc.request(uint16(i + 1))
		if b, err := m.Pack(); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// lastLog keeps the server's most recent log record: the handler logs the
// stack of a recovered panic there.
type lastLog struct {
	mu  sync.Mutex
	rec []byte
}

func (l *lastLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rec = append(l.rec[:0], p...)
	return len(p), nil
}

func (l *lastLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.rec)
}

// fuzzConfig serves the conformance zones and pools of every policy.
const fuzzConfig = "../testdata/fuzz/server/dnslb.toml"

// newFuzzServer builds the server of fuzzConfig without running it: the
// fuzz functions call its handler directly.
func newFuzzServer(f *testing.F) (*Server, *lastLog) {
	f.Helper()
	log := &lastLog{}
	// New binds 127.0.0.1:0 over UDP, then TCP on the port UDP got, which
	// a client connection of another process may hold: try a few ports.
	var srv *Server
	var err error
	for range 5 {
		if srv, err = New(fuzzConfig, Options{LogOutput: log}); !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(srv.closeListeners)
	return srv, log
}

// requestInfo is what a response to req must agree with.
type requestInfo struct {
	answered bool // a response is due: the header can be read and QR is clear
	msg      *dns.Msg
	limit    int // the largest UDP response allowed
}

// rotates reports whether the answer may change from one query to the next:
// the pools of zone rot.test. rotate.
func (ri requestInfo) rotates() bool {
	if ri.msg == nil {
		return false
	}
	for _, q := range ri.msg.Question {
		if dns.IsSubDomain("rot.test.", dns.CanonicalName(q.Name)) {
			return true
		}
	}
	return false
}

func inspectRequest(req []byte, ourSize int) requestInfo {
	ri := requestInfo{answered: couldBeQuery(req), limit: 512}
	var m dns.Msg
	if m.Unpack(req) == nil {
		ri.msg = &m
		if o := m.IsEdns0(); o != nil {
			ri.limit = udpLimit(true, o.UDPSize(), ourSize)
		}
	}
	return ri
}

// couldBeQuery reports whether req has the header of a DNS query, which
// must be answered: not a response, an assigned opcode, and section counts
// that a message of 64 KiB could hold (5 bytes a question, 11 a record).
func couldBeQuery(req []byte) bool {
	if len(req) < headerLen || req[2]&0x80 != 0 {
		return false
	}
	if op := req[2] >> 3 & 0xf; op == 3 || op > 6 {
		return false
	}
	n := func(i int) int { return int(req[i])<<8 | int(req[i+1]) }
	return headerLen+5*n(4)+11*(n(6)+n(8)+n(10)) <= 65535
}

// checkResponse holds a response to what every client may rely on.
func checkResponse(t *testing.T, req, resp []byte, ri requestInfo, udp bool) {
	t.Helper()
	if resp == nil {
		if ri.answered {
			t.Fatalf("no response to a query whose header can be read (RFC 8906: never silence)")
		}
		return
	}
	if !ri.answered {
		t.Fatalf("response % x to a request that must get none", resp[:min(len(resp), headerLen)])
	}
	if len(resp) > 65535 {
		t.Fatalf("response of %d bytes", len(resp))
	}
	if udp && len(resp) > ri.limit {
		t.Fatalf("UDP response of %d bytes, the requester accepts %d", len(resp), ri.limit)
	}
	var m dns.Msg
	if err := m.Unpack(resp); err != nil {
		t.Fatalf("response does not parse: %v\n% x", err, resp)
	}
	if binary.BigEndian.Uint16(resp) != binary.BigEndian.Uint16(req) {
		t.Fatalf("response ID %#x, query ID %#x", m.Id, binary.BigEndian.Uint16(req))
	}
	if !m.Response {
		t.Fatal("QR clear in a response")
	}
	if op := int(req[2]>>3) & 0xf; m.Opcode != op {
		t.Fatalf("opcode %d, the query's is %d", m.Opcode, op)
	}
	if m.RecursionAvailable {
		t.Fatal("RA set: dnslb does not recurse")
	}
	if q := ri.msg; q != nil && len(q.Question) == 1 && len(m.Question) == 1 && m.Question[0] != q.Question[0] {
		t.Fatalf("question %v, the query's is %v", m.Question[0], q.Question[0])
	}
	if len(m.Question) > 1 {
		t.Fatalf("%d questions in the response", len(m.Question))
	}
	if udp && m.Truncated && len(m.Answer)+len(m.Ns) > 0 && m.Rcode != dns.RcodeSuccess {
		t.Fatalf("TC on a %s response with records", dns.RcodeToString[m.Rcode])
	}
}

// serveChecked serves req on w and fails when the handler recovered a panic.
func serveChecked(t *testing.T, w *worker, log *lastLog, req []byte, src netip.AddrPort) []byte {
	t.Helper()
	panics := w.stats.panics.Load()
	resp := w.serve(req, src)
	if w.stats.panics.Load() != panics {
		t.Fatalf("the handler panicked on % x:\n%s", req, log.String())
	}
	return resp
}

// FuzzHandlerUDP feeds raw datagrams to the handler as a UDP socket would,
// and checks that the answer does not depend on how it was built:
//   - the same query twice, first with an empty answer cache (the general
//     path, which parses with miekg/dns), then from the cache (the fast
//     path, which parses by hand), gets the same bytes;
//   - so does the query answered from a cache that the same question in
//     other letter case filled;
//   - a response that fits over UDP is the one TCP gives.
func FuzzHandlerUDP(f *testing.F) {
	addSeeds(f, "FuzzHandlerUDP")
	for _, q := range conformanceQueries() {
		f.Add(q)
	}
	srv, log := newFuzzServer(f)
	w := newWorker(srv, false, srv.newStats())
	tw := newWorker(srv, true, srv.newStats())
	src := netip.MustParseAddrPort("198.51.100.7:53000")
	f.Fuzz(func(t *testing.T, req []byte) {
		ri := inspectRequest(req, int(srv.snap.Load().udpSize))
		cache := srv.snap.Load().cache
		clear(cache.slots)
		first := bytes.Clone(serveChecked(t, w, log, req, src))
		checkResponse(t, req, first, ri, true)
		if ri.rotates() {
			return
		}
		if again := serveChecked(t, w, log, req, src); !bytes.Equal(first, again) {
			t.Fatalf("the same query answered twice differs (general path, then cache):\n% x\n% x\nquery % x", first, again, req)
		}
		if other, ok := swapCase(req); ok {
			clear(cache.slots)
			serveChecked(t, w, log, other, src)
			if again := serveChecked(t, w, log, req, src); !bytes.Equal(first, again) {
				t.Fatalf("answered from a cache filled by % x, the query gets\n% x\ninstead of\n% x\nquery % x", other, again, first, req)
			}
		}
		overTCP := serveChecked(t, tw, log, req, src)
		checkResponse(t, req, overTCP, ri, false)
		if len(overTCP) <= ri.limit && !bytes.Equal(first, overTCP) {
			t.Fatalf("a response that fits in %d bytes differs over UDP and TCP:\n% x\n% x\nquery % x", ri.limit, first, overTCP, req)
		}
	})
}

// swapCase returns req with the letters of its question name (when it is
// plain labels) in the other case.
func swapCase(req []byte) ([]byte, bool) {
	out := bytes.Clone(req)
	off, letters := headerLen, false
	for off < len(out) && out[off] != 0 {
		l := int(out[off])
		if l > 63 || off+1+l > len(out) {
			return nil, false
		}
		for i := off + 1; i <= off+l; i++ {
			if c := out[i] | 0x20; c >= 'a' && c <= 'z' {
				out[i] ^= 0x20
				letters = true
			}
		}
		off += 1 + l
	}
	return out, letters && off < len(out)
}

// FuzzHandlerTCP feeds a byte stream to one TCP connection: length-prefixed
// queries, pipelined. Every complete message is answered in order until one
// gets no response, and the connection ends when the stream does.
func FuzzHandlerTCP(f *testing.F) {
	addSeeds(f, "FuzzHandlerTCP")
	var all []byte
	for _, q := range conformanceQueries() {
		framed := binary.BigEndian.AppendUint16(nil, uint16(len(q)))
		framed = append(framed, q...)
		f.Add(framed)
		all = append(all, framed...)
	}
	f.Add(all)
	srv, log := newFuzzServer(f)
	maxQueries := srv.snap.Load().cfg.Server.TCPMaxQueries
	src := netip.MustParseAddrPort("198.51.100.7:53000")
	f.Fuzz(func(t *testing.T, stream []byte) {
		// The complete messages in stream, and which must be answered.
		var reqs [][]byte
		for rest := stream; len(rest) >= 2; {
			n := int(binary.BigEndian.Uint16(rest))
			if len(rest) < 2+n {
				break
			}
			reqs = append(reqs, rest[2:2+n])
			rest = rest[2+n:]
		}
		want := min(len(reqs), maxQueries)
		for i, r := range reqs[:want] {
			if !couldBeQuery(r) {
				want = i // no response, and the server hangs up
				break
			}
		}
		c := &streamConn{in: bytes.NewReader(stream)}
		panics := srv.tcpStats.panics.Load()
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.serveConn(c, src)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("serveConn still running 10s after its stream ended")
		}
		if srv.tcpStats.panics.Load() != panics {
			t.Fatalf("the handler panicked:\n%s", log.String())
		}
		out := c.out.Bytes()
		var got int
		for ; len(out) > 0; got++ {
			if len(out) < 2 || len(out) < 2+int(binary.BigEndian.Uint16(out)) {
				t.Fatalf("response %d: a broken frame % x", got, out)
			}
			n := int(binary.BigEndian.Uint16(out))
			if got >= len(reqs) {
				t.Fatalf("response %d to %d complete queries", got+1, len(reqs))
			}
			checkResponse(t, reqs[got], out[2:2+n], inspectRequest(reqs[got], int(srv.snap.Load().udpSize)), false)
			out = out[2+n:]
		}
		if got != want {
			t.Fatalf("%d responses to %d complete queries, want %d", got, len(reqs), want)
		}
	})
}

// streamConn is a net.Conn whose reads come from a finite stream and whose
// writes are kept: serveConn over it ends as soon as the stream does, with
// no socket and no deadline to wait for.
type streamConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *streamConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *streamConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *streamConn) Close() error                { return nil }
func (c *streamConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (c *streamConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 53000}
}
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzCheckWire: checkWire never panics, drops exactly what cannot be a
// query's header, and what it passes, miekg/dns reads with the sections
// the header counts (or refuses for what lies inside a record).
func FuzzCheckWire(f *testing.F) {
	addSeeds(f, "FuzzHandlerUDP")
	for _, q := range conformanceQueries() {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, req []byte) {
		verdict, opt := checkWire(req)
		if (verdict == wireDrop) == couldBeQuery(req) {
			t.Fatalf("verdict %d for a request that could be a query: %v", verdict, couldBeQuery(req))
		}
		if verdict != wireOK {
			return
		}
		if opt[1] >= 0 && opt[0]+opt[1] > len(req) {
			t.Fatalf("OPT RDATA at %d+%d beyond %d bytes", opt[0], opt[1], len(req))
		}
		var m dns.Msg
		if m.Unpack(req) != nil {
			return
		}
		n := func(i int) int { return int(binary.BigEndian.Uint16(req[i:])) }
		if len(m.Question) != n(4) || len(m.Answer) != n(6) || len(m.Ns) != n(8) || len(m.Extra) != n(10) {
			t.Fatalf("sections %d %d %d %d, the header says % x", len(m.Question), len(m.Answer), len(m.Ns), len(m.Extra), req[4:12])
		}
	})
}

// addSeeds adds every file of ../testdata/fuzz/<name>/ to f's corpus.
func addSeeds(f *testing.F, name string) {
	f.Helper()
	testutil.AddSeeds(f, filepath.Join("..", "testdata", "fuzz", name))
}
