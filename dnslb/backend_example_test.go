package dnslb

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/dnslb/dnslb/health"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// startBackendExample runs testdata/backend.py on 127.0.0.1 with args after
// the port and returns the port it serves.
func startBackendExample(t *testing.T, args ...string) int {
	t.Helper()
	p := testutil.Run(t, "backend.py", "python3", append([]string{"../testdata/backend.py", "127.0.0.1", "0"}, args...)...)
	port, _ := strconv.Atoi(p.WaitOutput(t, 20*time.Second, regexp.MustCompile(`serving 127\.0\.0\.1 port (\d+)\n`))[1])
	return port
}

// exampleLoad is the load the health check reads from the backend.
func exampleLoad(t *testing.T, port int) (float64, bool) {
	t.Helper()
	c := &health.Check{Name: "web", Type: health.TypeHTTP, Port: uint16(port), Path: "/", LoadHeader: "X-Load",
		Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1}
	r := health.Probe(context.Background(), c, netip.MustParseAddr("127.0.0.1"))
	if !r.OK {
		t.Fatalf("probe failed: %v %v", r.Reason, r.Err)
	}
	return r.Load, r.HasLoad
}

// TestBackendExampleReports: the example backend reports what the README
// says for each way of using least_load: a fixed figure, its open
// connections, the bandwidth it sent, its response time.
func TestBackendExampleReports(t *testing.T) {
	get := func(t *testing.T, port int, path string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	t.Run("fixed", func(t *testing.T) {
		port := startBackendExample(t, "7")
		if load, ok := exampleLoad(t, port); !ok || load != 7 {
			t.Errorf("load %v (%v), want 7", load, ok)
		}
	})
	t.Run("least connections", func(t *testing.T) {
		port := startBackendExample(t, "conns")
		for range 3 { // clients holding connections open
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
		}
		testutil.WaitFor(t, 10*time.Second, "3 open connections reported", func() bool {
			load, ok := exampleLoad(t, port)
			return ok && load == 3
		})
	})
	t.Run("least bandwidth", func(t *testing.T) {
		port := startBackendExample(t, "mbps")
		if load, ok := exampleLoad(t, port); !ok || load != 0 {
			t.Errorf("idle: load %v (%v), want 0", load, ok)
		}
		for range 5 {
			get(t, port, "/blob?mb=1")
		}
		// 5 MB within the 10 s window: 4 Mbit/s (if the window has not
		// moved past the first; it is 10 s long).
		if load, ok := exampleLoad(t, port); !ok || load < 3.2 || load > 4.01 {
			t.Errorf("after 5 MB: load %v (%v), want 4 Mbit/s", load, ok)
		}
	})
	t.Run("least response time", func(t *testing.T) {
		port := startBackendExample(t, "rt", "30")
		for range 3 {
			get(t, port, "/")
		}
		if load, ok := exampleLoad(t, port); !ok || load < 30 || load > 1000 {
			t.Errorf("load %v (%v), want the mean response time, at least the 30 ms delay", load, ok)
		}
	})
}
