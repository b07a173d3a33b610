package dnslb

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testServer is a real dnslb on 127.0.0.1 with an ephemeral port.
type testServer struct {
	*Server
	addr   string // host:port of DNS (UDP and TCP)
	http   string // base URL of the HTTP side, "" when off
	cancel context.CancelFunc
	done   chan struct{}
	logs   *syncBuffer
}

// syncBuffer collects log output for assertions.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeFiles writes files (name → content) into a new temporary folder and
// returns the folder.
func writeFiles(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// start runs the server for the config at path until the test ends.
func start(t testing.TB, path string, o Options) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	if o.LogOutput == nil {
		o.LogOutput = io.MultiWriter(logs, testLogWriter{t})
	}
	srv, err := New(path, o)
	if err != nil {
		t.Fatalf("New(%s): %v", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: srv, addr: srv.DNSAddrs()[0].String(), cancel: cancel, done: make(chan struct{}), logs: logs}
	if h := srv.HTTPAddr(); h != "" {
		ts.http = "http://" + h
	}
	go func() {
		defer close(ts.done)
		_ = srv.Run(ctx)
	}()
	t.Cleanup(ts.stop)
	waitFor(t, 5*time.Second, "server ready", func() bool { return srv.ready.Load() })
	return ts
}

func (ts *testServer) stop() {
	ts.cancel()
	<-ts.done
}

// testLogWriter shows server logs with the test's output when it fails.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// discardLogger keeps benchmarks quiet.
var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// exchange sends m over netw ("udp" or "tcp") and returns the response.
func (ts *testServer) exchange(t testing.TB, netw string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: netw, Timeout: 3 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, ts.addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", netw, m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], err)
	}
	return r
}

// ask queries name/qtype with RD set and EDNS (4096, as dig sends it).
func (ts *testServer) ask(t testing.TB, netw, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	return ts.exchange(t, netw, m)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rrStrings renders records one per line, tabs as single spaces.
func rrStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		if _, ok := rr.(*dns.OPT); ok {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	return out
}

var transports = []string{"udp", "tcp"}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
