package dnslb

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// TestHTTPFloodKeepsHealth replays issue 20's first finding on the wire: a
// dnslb with few file descriptors (a child process with RLIMIT_NOFILE 160)
// is flooded with a thousand keep-alive HTTP connections. Its checked
// member must stay up (the pool answers NODATA when it goes down) and DNS
// over TCP must keep working. Once with the connection cap, which keeps
// the descriptors free; once with a cap above the descriptor limit, where
// probes do run out of descriptors and must not count that against the
// member.
func TestHTTPFloodKeepsHealth(t *testing.T) {
	if os.Getenv("DNSLB_FDFLOOD_CHILD") != "" {
		fdFloodChild(t)
		return
	}
	backend := listenTCP127(t)
	for _, tc := range []struct {
		name      string
		maxConns  int
		wantLocal bool // probes met EMFILE
	}{
		{"capped", 32, false},
		{"descriptors exhausted", 5000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHTTPFloodKeepsHealth$")
			cmd.Env = append(os.Environ(), "DNSLB_FDFLOOD_CHILD=1",
				fmt.Sprintf("DNSLB_FDFLOOD_BACKEND=%d", backend), fmt.Sprintf("DNSLB_FDFLOOD_MAXCONNS=%d", tc.maxConns))
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := bufio.NewScanner(stdout)
			var dnsAddr, httpAddr string
			for lines.Scan() {
				if _, err := fmt.Sscanf(lines.Text(), "SERVING %s %s", &dnsAddr, &httpAddr); err == nil {
					break
				}
			}
			if httpAddr == "" {
				t.Fatalf("the child did not start:\n%s", stderr.String())
			}
			// ask reports whether an answer came, and whether it
			// served the member: a query lost or late on a loaded
			// machine says nothing of the member's health.
			ask := func() (answered, up bool) {
				m := new(dns.Msg)
				m.SetQuestion("www.lb.test.", dns.TypeA)
				r, _, err := (&dns.Client{Net: "udp", Timeout: 10 * time.Second}).Exchange(m, dnsAddr)
				return err == nil, err == nil && len(r.Answer) == 1
			}
			testutil.WaitFor(t, 20*time.Second, "the member up", func() bool { _, up := ask(); return up })

			var flood []net.Conn
			for range 1000 {
				c, err := net.DialTimeout("tcp", httpAddr, time.Second)
				if err != nil {
					continue
				}
				flood = append(flood, c)
				fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", httpAddr)
			}
			// Hold the connections over many probe intervals (200 ms,
			// fall 2), asking all the while.
			deadline := time.Now().Add(3 * time.Second)
			downs, answers := 0, 0
			for time.Now().Before(deadline) || answers == 0 && time.Now().Before(deadline.Add(20*time.Second)) {
				if answered, up := ask(); answered {
					answers++
					if !up {
						downs++
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			if answers == 0 {
				t.Errorf("no answer over UDP during the flood")
			}
			if downs > 0 {
				t.Errorf("the member was withdrawn during the flood (%d of %d answers without it)", downs, answers)
			}
			if !tc.wantLocal {
				m := new(dns.Msg)
				m.SetQuestion("www.lb.test.", dns.TypeA)
				if _, _, err := (&dns.Client{Net: "tcp", Timeout: 10 * time.Second}).Exchange(m, dnsAddr); err != nil {
					t.Errorf("DNS over TCP during the flood: %v", err)
				}
			}
			for _, c := range flood {
				c.Close()
			}
			stdin.Close()
			var local float64 = -1
			for lines.Scan() {
				fmt.Sscanf(lines.Text(), "LOCAL %g", &local)
			}
			cmd.Wait()
			switch {
			case local < 0:
				t.Errorf("the child reported nothing:\n%s", stderr.String())
			case tc.wantLocal && local == 0:
				t.Errorf("no probe met a local error: the flood did not exhaust the descriptors")
			case !tc.wantLocal && local > 0:
				t.Errorf("%v probes met a local error although HTTP was capped", local)
			}
		})
	}
}

// fdFloodChild runs dnslb with 160 descriptors until stdin closes, then
// prints the count of probes that failed for a local reason.
func fdFloodChild(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": fmt.Sprintf(`[server]
listen = ["127.0.0.1:0"]
http = "127.0.0.1:0"
workers = 1
http_max_connections = %s
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
[check.tcp]
type = "tcp"
port = %s
interval = "200ms"
timeout = "200ms"
fall = 2
[[pool]]
name = "www.lb.test."
check = "tcp"
when_all_down = "none"
members = [{ address = "127.0.0.1" }]
`, os.Getenv("DNSLB_FDFLOOD_MAXCONNS"), os.Getenv("DNSLB_FDFLOOD_BACKEND"))})
	lim := syscall.Rlimit{Cur: 160, Max: 160}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv, err := New(filepath.Join(dir, "dnslb.toml"), Options{Registry: reg, LogOutput: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(ctx) }()
	testutil.WaitFor(t, 10*time.Second, "serving", srv.ready.Load)
	fmt.Printf("SERVING %s %s\n", srv.DNSAddrs()[0], srv.HTTPAddr())
	io.Copy(io.Discard, os.Stdin)
	cancel()
	<-done
	local := 0.0
	if fams, err := reg.Gather(); err == nil {
		for _, f := range fams {
			if f.GetName() == "dnslb_health_probe_local_errors_total" {
				for _, m := range f.GetMetric() {
					local += m.GetCounter().GetValue()
				}
			}
		}
	}
	fmt.Printf("LOCAL %g\n", local)
}
