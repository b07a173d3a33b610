package dnslb

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dnslb/dnslb/dnslb/config"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// httpGet sends GET path with the given Host header and returns the status
// and the body.
func (ts *testServer) httpGet(t *testing.T, path, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.http+path, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHTTPConnectionsBounded: clients holding keep-alive connections open
// (the flood of issue 20 held 20,000) cannot take more than
// http_max_connections descriptors; idle ones make room for new clients,
// and the health of a checked member is untouched.
func TestHTTPConnectionsBounded(t *testing.T) {
	backend := listenTCP127(t)
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": fmt.Sprintf(`[server]
listen = ["127.0.0.1:0"]
http = "127.0.0.1:0"
http_max_connections = 8
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
[check.tcp]
type = "tcp"
port = %d
interval = "1s"
timeout = "1s"
fall = 3
[[pool]]
name = "www.lb.test."
check = "tcp"
members = [{ address = "127.0.0.1" }]
`, backend)})
	ts := start(t, filepath.Join(dir, "dnslb.toml"), Options{})
	testutil.WaitFor(t, 10*time.Second, "first health round", ts.prober.FirstRoundDone)

	const clients = 60
	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	addr := strings.TrimPrefix(ts.http, "http://")
	for range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		// One request, then the connection is kept open, idle.
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("GET /healthz: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	lim := ts.httpLimiter.Load()
	testutil.WaitFor(t, 10*time.Second, "at most 8 open HTTP connections", func() bool { return lim.count() <= 8 })
	// Seen from the clients: all but the last few were closed by the server.
	// Polled: a close may reach the client after the server's count.
	closed := make([]bool, len(conns))
	n := 0
	testutil.WaitFor(t, 20*time.Second, fmt.Sprintf("at least %d of %d idle connections closed by the server", clients-8, clients), func() bool {
		for i, c := range conns {
			if closed[i] {
				continue
			}
			c.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err == io.EOF {
				closed[i] = true
				n++
			}
		}
		return n >= clients-8
	})
	// A new client is still served, and so are DNS and health.
	if got := ts.scrape(t)["dnslb_http_shed_connections_total{how=evicted}"]; got < clients-8 {
		t.Errorf("dnslb_http_shed_connections_total{how=evicted} = %v, want at least %d", got, clients-8)
	}
	st := ts.snap.Load().poolByName["www.lb.test."].families[0].members[0].target.Status()
	if !st.Up || st.Transitions != 0 || st.LocalErrors != 0 {
		t.Errorf("health of the member moved during the flood: %+v", st)
	}
}

// listenTCP127 accepts and closes TCP connections on 127.0.0.1 (a backend
// a tcp check finds up) until the test ends; it returns the port.
func listenTCP127(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestHTTPHostCheck: a request whose Host is not the server's address,
// localhost (on loopback) or a name in http_hosts is refused (DNS
// rebinding); health endpoints answer any Host.
func TestHTTPHostCheck(t *testing.T) {
	dir := adminConfig(t)
	cfg := filepath.Join(dir, "dnslb.toml")
	if err := appendServerKey(cfg, `http_hosts = ["dnslb1.example.com", "192.0.2.80"]`); err != nil {
		t.Fatal(err)
	}
	ts := start(t, cfg, Options{})
	port := ts.http[strings.LastIndex(ts.http, ":")+1:]
	for _, tc := range []struct {
		path, host string
		want       int
	}{
		{"/api/v1/status", "", http.StatusOK}, // 127.0.0.1:port, as dialed
		{"/api/v1/status", "localhost:" + port, http.StatusOK},
		{"/api/v1/status", "LOCALHOST.:" + port, http.StatusOK},
		{"/api/v1/status", "dnslb1.example.com:" + port, http.StatusOK},
		{"/api/v1/status", "dnslb1.example.com", http.StatusOK},
		{"/api/v1/status", "192.0.2.80:" + port, http.StatusOK},
		{"/api/v1/status", "attacker.example:" + port, http.StatusMisdirectedRequest},
		{"/api/v1/status", "localhost.attacker.example:" + port, http.StatusMisdirectedRequest},
		{"/api/v1/status", "127.0.0.2:" + port, http.StatusMisdirectedRequest},
		{"/status", "attacker.example:" + port, http.StatusMisdirectedRequest},
		{"/metrics", "attacker.example:" + port, http.StatusMisdirectedRequest},
		{"/healthz", "attacker.example:" + port, http.StatusOK},
		{"/readyz", "attacker.example:" + port, http.StatusOK},
	} {
		if got, body := ts.httpGet(t, tc.path, tc.host); got != tc.want {
			t.Errorf("GET %s Host %q: %d, want %d: %s", tc.path, tc.host, got, tc.want, body)
		}
	}
	// Mutating calls too, before the token is even looked at.
	req, _ := http.NewRequest(http.MethodPost, ts.http+"/api/v1/reload", nil)
	req.Host = "attacker.example:" + port
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("POST /api/v1/reload from another Host: %d", resp.StatusCode)
	}
}

func TestHostAllowed(t *testing.T) {
	for _, tc := range []struct {
		bind  string
		hosts []string
		host  string
		want  bool
	}{
		{"127.0.0.1:8053", nil, "127.0.0.1:8053", true},
		{"127.0.0.1:8053", nil, "localhost:8053", true},
		{"127.0.0.1:8053", nil, "", false},
		{"127.0.0.1:8053", nil, "evil.example:8053", false},
		{"[::1]:8053", nil, "[::1]:8053", true},
		{"[::1]:8053", nil, "localhost", true},
		{"192.0.2.1:8053", nil, "localhost:8053", false}, // not a loopback bind
		{"192.0.2.1:8053", nil, "192.0.2.1:8053", true},
		{"192.0.2.1:8053", []string{"dnslb.example.com"}, "DNSLB.example.com:8053", true},
		{"0.0.0.0:8053", nil, "198.51.100.7:8053", true}, // a wildcard: any address, never a name
		{"0.0.0.0:8053", nil, "evil.example:8053", false},
		{"192.0.2.1:8053", []string{"2001:db8::1"}, "[2001:DB8::1]:8053", true},
	} {
		c := &config.Server{HTTP: netip.MustParseAddrPort(tc.bind), HTTPHosts: tc.hosts}
		if got := hostAllowed(c, tc.host); got != tc.want {
			t.Errorf("bind %s hosts %v: hostAllowed(%q) = %v, want %v", tc.bind, tc.hosts, tc.host, got, tc.want)
		}
	}
}

// TestStatusCostBounded: a burst of concurrent status requests is served a
// few at a time (the rest are told to retry) from shared renders; an
// override shows in the very next response.
func TestStatusCostBounded(t *testing.T) {
	ts := start(t, filepath.Join(adminConfig(t), "dnslb.toml"), Options{})
	before := ts.statusCache.renders.Load()
	var wg sync.WaitGroup
	codes := make([]int, 100)
	bodies := make([]string, 100)
	for i := range bodies {
		wg.Go(func() { codes[i], bodies[i] = ts.httpGet(t, "/api/v1/status", "") })
	}
	wg.Wait()
	if n := ts.statusCache.renders.Load() - before; n < 1 || n > 100 {
		t.Errorf("100 concurrent requests rendered the status %d times", n)
	}
	ok := -1
	for i, c := range codes {
		switch c {
		case http.StatusOK:
			ok = i
		case http.StatusServiceUnavailable:
		default:
			t.Errorf("status request: %d %s", c, bodies[i])
		}
	}
	if ok < 0 {
		t.Fatal("no status request was served")
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(bodies[ok]), &st); err != nil || len(st.Pools) != 1 {
		t.Fatalf("status: %v: %.200s", err, bodies[ok])
	}
	// Beyond statusSlots at once, the rest are refused at once.
	for range statusSlots {
		ts.statusCache.slots <- struct{}{}
	}
	if code, _ := ts.httpGet(t, "/api/v1/status", ""); code != http.StatusServiceUnavailable {
		t.Errorf("with every slot taken: %d, want 503", code)
	}
	for range statusSlots {
		<-ts.statusCache.slots
	}
	if code, body := ts.post(t, "/api/v1/pools/www.lb.test./members/192.0.2.12/override", testToken, `{"override":"drain"}`); code != http.StatusOK {
		t.Fatalf("override: %d %s", code, body)
	}
	// At once, not after the cache's age: the operator checks what was done.
	if _, body := ts.httpGet(t, "/api/v1/status", ""); !strings.Contains(body, `"override":"drain"`) {
		t.Errorf("the override does not show in the next status: %.300s", body)
	}
}

// appendServerKey adds a line to the [server] table of the config at path.
func appendServerKey(path, line string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strings.Replace(string(b), "[server]\n", "[server]\n"+line+"\n", 1)), 0o644)
}

// TestStatusCacheCoalesces: requests arriving during a render share it;
// after a render others waited for, the next is spaced out by
// statusSpacing times its duration; a request alone always renders anew.
func TestStatusCacheCoalesces(t *testing.T) {
	var c statusCache
	clock := time.Unix(1000, 0)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	n := 0
	render := func() []byte { n++; return []byte(fmt.Sprint(n)) }

	// Alone: fresh every time, however close together.
	for want := 1; want <= 3; want++ {
		if got := string(c.get(render, now, 0)); got != fmt.Sprint(want) {
			t.Fatalf("request %d alone got render %s", want, got)
		}
	}
	// Ten arrive during a render that takes a second: one render for all.
	release := make(chan struct{})
	slow := func() []byte { <-release; advance(time.Second); return render() }
	var wg sync.WaitGroup
	got := make([]string, 11)
	wg.Go(func() { got[0] = string(c.get(slow, now, 0)) })
	testutil.WaitFor(t, 10*time.Second, "a render under way", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.done != nil })
	for i := 1; i <= 10; i++ {
		wg.Go(func() { got[i] = string(c.get(render, now, 0)) })
	}
	testutil.WaitFor(t, 10*time.Second, "ten waiting", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.waiters == 10 })
	close(release)
	wg.Wait()
	for i, g := range got {
		if g != "4" {
			t.Errorf("request %d got render %s, want the shared 4", i, g)
		}
	}
	// Within 4 × 1 s of it: its bytes. After: a new render.
	advance(3 * time.Second)
	if g := string(c.get(render, now, 0)); g != "4" {
		t.Errorf("3 s after a busy 1 s render: render %s, want 4 again", g)
	}
	// Within it, but health or an override changed since: a new render.
	if g := string(c.get(render, now, 1)); g != "5" {
		t.Errorf("after a change of state: render %s, want a new one", g)
	}
	advance(2 * time.Second)
	if g := string(c.get(render, now, 1)); g != "6" {
		t.Errorf("5 s after a busy 1 s render: render %s, want a new one", g)
	}
	if r := c.renders.Load(); r != 6 {
		t.Errorf("%d renders, want 6", r)
	}
}
