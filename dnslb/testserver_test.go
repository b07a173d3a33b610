package dnslb

import (
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// testServer is a real dnslb on 127.0.0.1 with an ephemeral port.
type testServer struct {
	*Server
	addr   string // host:port of DNS (UDP and TCP)
	http   string // base URL of the HTTP side, "" when off
	cancel context.CancelFunc
	done   chan struct{}
	logs   *testutil.SyncBuffer
}

// httpKey finds a config's own http setting.
var httpKey = regexp.MustCompile(`(?m)^\s*http\s*=`)

// start runs the server for the config at path until the test ends.
func start(t testing.TB, path string, o Options) *testServer {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	if o.LogOutput == nil {
		o.LogOutput = io.MultiWriter(logs, testutil.LogWriter{T: t})
	}
	// A config that leaves http out would take its default, the Quick
	// start's fixed 127.0.0.1:8053, which a test run beside this one (or
	// `make run`) may hold: such servers get port 0.
	if o.Host.HTTP == "" {
		if b, err := os.ReadFile(path); err == nil && !httpKey.Match(b) {
			o.Host.HTTP = "127.0.0.1:0"
		}
	}
	srv, err := New(path, o)
	if err != nil {
		t.Fatalf("New(%s): %v", path, err)
	}
	if h := srv.HTTPAddr(); strings.HasSuffix(h, ":8053") {
		srv.closeListeners()
		t.Fatalf("the test server took the fixed HTTP port %s: give its config http = \"127.0.0.1:0\" or \"\"", h)
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
	testutil.WaitFor(t, 30*time.Second, "server ready", func() bool { return srv.ready.Load() })
	return ts
}

func (ts *testServer) stop() {
	ts.cancel()
	<-ts.done
}

// discardLogger keeps benchmarks quiet.
var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// exchange sends m over netw ("udp" or "tcp") and returns the response.
func (ts *testServer) exchange(t testing.TB, netw string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: netw, Timeout: 10 * time.Second, UDPSize: 65535}
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
