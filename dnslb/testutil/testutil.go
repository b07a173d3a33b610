// Package testutil holds what the tests of every package (and the soak
// tool) share: the waiting loop, a log buffer safe for concurrent writes,
// test files, and backends that health checks probe. It never imports
// dnslb.
package testutil

import (
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// WaitFor polls cond until it holds, failing the test when d passes first.
// Tests assert on states reached, never on how fast: give d generously.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SyncBuffer collects output (a logger's) written from several goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// LogWriter shows what is written (a server's logs) with the test's output
// when it fails.
type LogWriter struct{ T testing.TB }

func (w LogWriter) Write(p []byte) (int, error) {
	w.T.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// WriteFiles writes files (name → content, names may hold folders) into a
// new temporary folder and returns the folder.
func WriteFiles(t testing.TB, files map[string]string) string {
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

// AddSeeds adds every file of dir (the project's testdata/fuzz/<Target>,
// where `go test` does not look by itself) to f's seed corpus. A folder
// without seeds fails: `go test` would run the target on nothing.
func AddSeeds(f *testing.F, dir string) {
	f.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		f.Fatalf("seed corpus: %v", err)
	}
	n := 0
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		n++
	}
	if n == 0 {
		f.Fatalf("seed corpus: no seeds in %s", dir)
	}
}

// FreeAddr returns host:port with a port free on host for both UDP and TCP,
// for a server started in another process (which cannot be handed a
// socket). See FreePort.
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	return net.JoinHostPort(host, strconv.Itoa(FreePort(t, host)))
}

// FreePort returns a port free for both UDP and TCP on every one of hosts,
// for servers that must share a port and cannot all bind port 0 (a cluster
// whose shared config names its peers, a server in another process). The
// port is drawn below the kernel's ephemeral range (32768 and up by
// default), so that no socket bound to port 0 — a client's, another
// test's server — takes it between this check and the bind. Prefer port 0
// and reading the address back wherever the server allows it.
func FreePort(t testing.TB, hosts ...string) int {
	t.Helper()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		if portFree(hosts, port) {
			return port
		}
	}
	t.Fatalf("no port free on %v for both UDP and TCP", hosts)
	return 0
}

func portFree(hosts []string, port int) bool {
	for _, h := range hosts {
		addr := net.JoinHostPort(h, strconv.Itoa(port))
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		l, err := net.Listen("tcp", addr)
		u.Close()
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// Goroutines returns the stacks of the goroutines that name any of frames
// (function names as runtime.Stack prints them, e.g.
// "health.(*Prober).Run"): a count of the code in question, which the
// goroutines of other tests and of the runtime do not disturb as
// runtime.NumGoroutine would.
func Goroutines(frames ...string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range frames {
			if strings.Contains(g, f) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// WaitGoroutinesGone polls until no goroutine's stack names any of frames
// (see Goroutines), failing with the stacks that still do after d.
// Counting all goroutines would also count what other tests and the
// server's own pools start and stop meanwhile; naming the code that must
// not leak asks exactly the question.
func WaitGoroutinesGone(t testing.TB, d time.Duration, frames ...string) {
	t.Helper()
	var left []string
	deadline := time.Now().Add(d)
	for {
		if left = Goroutines(frames...); len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %d goroutines still run %q:\n%s", d, len(left), frames, strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// AllocsPerRun is testing.AllocsPerRun for code measured beside a running
// server: the runtime counts allocations process-wide, so a health probe or
// HTTP request in the window adds to the count. The least of five
// measurements is the code's own; code that allocates does so in all five.
func AllocsPerRun(runs int, f func()) float64 {
	least := testing.AllocsPerRun(runs, f)
	for i := 1; i < 5 && least > 0; i++ {
		least = min(least, testing.AllocsPerRun(runs, f))
	}
	return least
}
