package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// The pool's members, in 127.0.4.0/24; ports are ephemeral. .21 and .22
// answer their checks (.22 is drained by the test), .23 never does.
const upgradeLive1, upgradeLive2, upgradeDead = "127.0.4.21", "127.0.4.22", "127.0.4.23"

// TestUpgradeUnderLoad replaces the binary ten times (alternating two
// builds, half by SIGUSR2, half by POST /api/v1/upgrade) while dnsperf sends
// 20,000 UDP queries a second, a checker looks at every answer of the pool
// and TCP clients keep connections busy; then a broken binary is installed
// and refused. Nothing may be lost: every dnsperf query completed, no
// SERVFAIL, every TCP query answered (connections open across an upgrade
// included), no answer listing the dead member (a new process that forgot
// health would list it: its checks start "up") or the drained one (the
// override lives in memory only), one health transition in all (the dead
// member's first), and each new process is the new build.
func TestUpgradeUnderLoad(t *testing.T) {
	dir := t.TempDir()
	var bins [2]string
	for i := range bins {
		bins[i] = builds.Binary(t, ".", "-X main.version=upgrade-"+string(rune('a'+i)))
	}
	bin := filepath.Join(dir, "dnslb") // where the service runs from
	install := func(src string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		tmp := bin + ".new"
		if err := os.WriteFile(tmp, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, bin); err != nil { // as a package manager replaces it
			t.Fatal(err)
		}
	}
	install(bins[0])

	checkPorts := map[string]int{}
	for _, a := range []string{upgradeLive1, upgradeLive2, upgradeDead} {
		b, err := testutil.StartBackend("tcp", a+":0")
		if err != nil {
			t.Fatal(err)
		}
		checkPorts[a] = b.Port()
		if a == upgradeDead {
			b.Close() // refused from now on
			continue
		}
		defer b.Close()
	}
	token := "upgrade-test-token-0123456789"
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "dnslb.toml")
	conf := fmt.Sprintf(`[server]
listen = ["127.0.0.1:0"]
http = "127.0.0.1:0"
admin_token_file = "token"
workers = 2

[[zone]]
origin = "lb.up."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 60", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1", "static 60 IN A 192.0.2.2"]

[check.c21]
type = "tcp"
port = %d
interval = "1s"
timeout = "500ms"
[check.c22]
type = "tcp"
port = %d
interval = "1s"
timeout = "500ms"
[check.c23]
type = "tcp"
port = %d
interval = "1s"
timeout = "500ms"

[[pool]]
name = "www.lb.up."
ttl = 30
members = [
  { address = "%s", check = "c21" },
  { address = "%s", check = "c22" },
  { address = "%s", check = "c23" },
]
`, checkPorts[upgradeLive1], checkPorts[upgradeLive2], checkPorts[upgradeDead], upgradeLive1, upgradeLive2, upgradeDead)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	// Every process writes to this file (the upgraded ones inherit it).
	logPath := filepath.Join(dir, "dnslb.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	logs := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	pidFile := filepath.Join(dir, "dnslb.pid")
	// As under systemd (Type=notify, NotifyAccess=all): each process says
	// READY=1 and that it is the main one.
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "notify"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	var notified []string
	var pids []int // each process's, in order
	notifyDone := make(chan struct{})
	go func() {
		defer close(notifyDone)
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				return
			}
			notified = append(notified, string(buf[:n]))
		}
	}()
	cmd := exec.Command(bin, "-config", cfg, "-pidfile", pidFile)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+filepath.Join(dir, "notify"))
	cmd.Stderr = logFile
	// The first process is reaped by Proc, later ones by init; the
	// processes of every generation share its group, stopped at the end.
	first := testutil.StartProc(t, "dnslb", cmd)

	serving := regexp.MustCompile(`msg="dnslb serving" dns=\[([0-9.:]+)\] http=([0-9.:]+)`)
	var dnsAddr, httpAddr string
	waitUntil(t, 20*time.Second, "the server to serve", logs, func() bool {
		m := serving.FindStringSubmatch(logs())
		if m == nil {
			return false
		}
		dnsAddr, httpAddr = m[1], m[2]
		return readPID(pidFile) == first.Pid()
	})
	api := &apiClient{base: "http://" + httpAddr, token: token}
	pids = append(pids, first.Pid())
	waitUntil(t, 20*time.Second, "the dead member to go down and the live ones to be up", logs, func() bool {
		st, err := api.status()
		if err != nil || len(st.Pools) != 1 {
			return false
		}
		for _, m := range st.Pools[0].Members {
			if (m.Health == "up") != (m.Address != upgradeDead) {
				return false
			}
		}
		return true
	})
	// An override kept in memory only (no state_file) must cross too.
	if code, body := api.post("/api/v1/pools/www.lb.up./members/"+upgradeLive2+"/override", `{"override":"drain"}`); code != http.StatusOK {
		t.Fatalf("drain %s: %d %s", upgradeLive2, code, body)
	}

	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var load sync.WaitGroup
	perf := &perfTotals{}
	load.Go(func() { perf.run(t, ctx, dir, dnsAddr) })
	check := &answerChecker{}
	load.Go(func() { check.run(ctx, dnsAddr) })
	var tcp tcpLoad
	for range 4 {
		load.Go(func() { tcp.run(ctx, dnsAddr) })
	}
	time.Sleep(time.Second) // load running before the first upgrade

	for i := range 10 {
		old := readPID(pidFile)
		want := "upgrade-" + string(rune('a'+(i+1)%2))
		install(bins[(i+1)%2])
		trigger := time.Now()
		tcp.markUpgrade(trigger)
		if i%2 == 0 {
			if err := syscall.Kill(old, syscall.SIGUSR2); err != nil {
				t.Fatal(err)
			}
		} else if code, body := api.post("/api/v1/upgrade", ""); code != http.StatusOK {
			t.Fatalf("upgrade %d: POST /api/v1/upgrade: %d %s\nlogs:\n%s", i+1, code, body, logs())
		}
		waitUntil(t, 60*time.Second, fmt.Sprintf("upgrade %d: a new process of %s serving and the old one gone", i+1, want), logs, func() bool {
			pid := readPID(pidFile)
			if pid == old || pid <= 0 {
				return false
			}
			tcp.markServing(time.Now()) // the new process wrote it once ready
			if alive(old) {
				return false
			}
			st, err := api.status()
			return err == nil && st.Version == want
		})
		pids = append(pids, readPID(pidFile))
	}

	// A binary that cannot start leaves the running one serving.
	broken := filepath.Join(dir, "broken")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho broken binary >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	running := readPID(pidFile)
	install(broken)
	if code, body := api.post("/api/v1/upgrade", ""); code != http.StatusInternalServerError || !strings.Contains(body, "exit") {
		t.Errorf("upgrade to a broken binary: %d %s, want 500 saying it exited", code, body)
	}
	time.Sleep(500 * time.Millisecond) // still under load
	if pid := readPID(pidFile); pid != running || !alive(running) {
		t.Errorf("after a failed upgrade the pid file says %d (alive %v), want %d serving", pid, alive(running), running)
	}

	stopLoad()
	load.Wait()
	perf.mu.Lock()
	defer perf.mu.Unlock()
	t.Logf("dnsperf: %d runs, %d queries sent, %d completed, %d lost; rcodes %v", perf.runs, perf.sent, perf.completed, perf.lost, perf.rcodes)
	t.Logf("pool answers checked over UDP: %d sent, %d answered, %d wrong (%s)", check.sent.Load(), check.answered.Load(), check.wrong.Load(), check.firstWrong())
	t.Logf("TCP: %d connections (%d open across an upgrade), %d queries, %d answered, %d failures (%s)", tcp.conns.Load(), tcp.acrossUpgrade.Load(), tcp.queries.Load(), tcp.answered.Load(), tcp.failures.Load(), tcp.firstFailure())
	transitions := strings.Count(logs(), `msg="health transition"`)
	t.Logf("health transitions in all processes' logs: %d (the dead member's first)", transitions)

	if perf.runs == 0 || perf.sent == 0 || perf.lost != 0 || perf.completed != perf.sent {
		t.Errorf("dnsperf: %d sent, %d completed, %d lost", perf.sent, perf.completed, perf.lost)
	}
	for rc := range perf.rcodes {
		if rc != "NOERROR" && rc != "NXDOMAIN" {
			t.Errorf("dnsperf saw %s", rc)
		}
	}
	if check.sent.Load() == 0 || check.answered.Load() != check.sent.Load() || check.wrong.Load() != 0 {
		t.Errorf("pool answers: %d sent, %d answered, %d wrong: %s", check.sent.Load(), check.answered.Load(), check.wrong.Load(), check.firstWrong())
	}
	if tcp.queries.Load() == 0 || tcp.answered.Load() != tcp.queries.Load() || tcp.failures.Load() != 0 {
		t.Errorf("TCP: %d queries, %d answered, %d failures: %s", tcp.queries.Load(), tcp.answered.Load(), tcp.failures.Load(), tcp.firstFailure())
	}
	if tcp.acrossUpgrade.Load() == 0 {
		t.Error("no TCP connection was open across an upgrade")
	}
	if transitions != 1 {
		t.Errorf("%d health transitions, want 1 (the dead member going down once, before the upgrades)", transitions)
	}
	notify.Close()
	<-notifyDone
	var want []string
	for _, pid := range pids {
		want = append(want, fmt.Sprintf("MAINPID=%d\nREADY=1", pid))
	}
	if strings.Join(notified, "|") != strings.Join(want, "|") {
		t.Errorf("systemd was told %q, want %q", notified, want)
	}
	if t.Failed() {
		t.Logf("logs:\n%s", logs())
	}
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// alive: the process exists and is not a zombie awaiting its reaper.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func waitUntil(t *testing.T, limit time.Duration, what string, logs func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; logs:\n%s", what, logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type apiClient struct{ base, token string }

type apiStatus struct {
	Version string `json:"version"`
	Pools   []struct {
		Members []struct {
			Address string `json:"address"`
			Health  string `json:"health"`
		} `json:"members"`
	} `json:"pools"`
}

func (c *apiClient) status() (apiStatus, error) {
	var st apiStatus
	resp, err := http.Get(c.base + "/api/v1/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (c *apiClient) post(path, body string) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// perfTotals runs dnsperf at 20,000 q/s in back-to-back runs of a few
// seconds until the context ends, and sums what they report.
type perfTotals struct {
	mu                    sync.Mutex
	runs                  int
	sent, completed, lost int
	rcodes                map[string]int
	errs                  []string
}

func (p *perfTotals) run(t *testing.T, ctx context.Context, dir, server string) {
	queries := filepath.Join(dir, "queries")
	var lines []string
	for i := range 100 {
		switch {
		case i < 60:
			lines = append(lines, "www.lb.up A")
		case i < 80:
			lines = append(lines, "static.lb.up A")
		case i < 90:
			lines = append(lines, fmt.Sprintf("nx%d.lb.up A", i))
		default:
			lines = append(lines, "lb.up SOA")
		}
	}
	if err := os.WriteFile(queries, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Error(err)
		return
	}
	host, port, _ := net.SplitHostPort(server)
	p.rcodes = map[string]int{}
	for ctx.Err() == nil {
		out, err := exec.Command("dnsperf", "-s", host, "-p", port, "-d", queries, "-l", "3", "-Q", "20000", "-c", "4", "-q", "500", "-t", "5", "-b", "4096").CombinedOutput()
		p.mu.Lock()
		if err != nil {
			p.errs = append(p.errs, err.Error())
			t.Errorf("dnsperf: %v\n%s", err, out)
			p.mu.Unlock()
			return
		}
		p.runs++
		p.sent += perfNumber(out, "Queries sent:")
		p.completed += perfNumber(out, "Queries completed:")
		p.lost += perfNumber(out, "Queries lost:")
		if m := regexp.MustCompile(`Response codes:\s+(.*)`).FindSubmatch(out); m != nil {
			for _, f := range regexp.MustCompile(`([A-Z]+) (\d+)`).FindAllSubmatch(m[1], -1) {
				n, _ := strconv.Atoi(string(f[2]))
				p.rcodes[string(f[1])] += n
			}
		}
		p.mu.Unlock()
	}
}

func perfNumber(out []byte, label string) int {
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), label); ok {
			n, _ := strconv.Atoi(strings.Fields(rest)[0])
			return n
		}
	}
	return -1
}

// answerChecker asks for the pool over UDP a few hundred times a second and
// checks every answer: NOERROR, live members only, never empty.
type answerChecker struct {
	sent, answered, wrong atomic.Int64
	mu                    sync.Mutex
	first                 string
}

func (c *answerChecker) run(ctx context.Context, server string) {
	// Generous: a lost query fails the test, a late one on a loaded
	// machine must not.
	cl := &dns.Client{Net: "udp", Timeout: 10 * time.Second}
	for ctx.Err() == nil {
		m := new(dns.Msg)
		m.SetQuestion("www.lb.up.", dns.TypeA)
		c.sent.Add(1)
		r, _, err := cl.Exchange(m, server)
		if err != nil {
			c.note(err.Error())
			continue
		}
		c.answered.Add(1)
		bad := r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); !ok || a.A.String() != upgradeLive1 { // .22 drained, .23 dead
				bad = true
			}
		}
		if bad {
			c.wrong.Add(1)
			c.note(r.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (c *answerChecker) note(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first == "" {
		c.first = s
	}
}

func (c *answerChecker) firstWrong() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

// tcpLoad: clients that open a connection, send ten queries 25 ms apart on
// it, close it and start again, so that connections are always open while
// a process hands over. A connection opened before an upgrade was triggered
// and closed after the new process served counts as across the upgrade:
// the old process answered its queries while the new one served.
type tcpLoad struct {
	conns, acrossUpgrade, queries, answered, failures atomic.Int64
	mu                                                sync.Mutex
	upgrades                                          [][2]time.Time // trigger, new process serving
	first                                             string
}

func (l *tcpLoad) markUpgrade(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.upgrades = append(l.upgrades, [2]time.Time{at, {}})
}

// markServing notes when the new process was first seen serving.
func (l *tcpLoad) markServing(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := &l.upgrades[len(l.upgrades)-1]; u[1].IsZero() {
		u[1] = at
	}
}

func (l *tcpLoad) run(ctx context.Context, server string) {
	for ctx.Err() == nil {
		l.conns.Add(1)
		opened := time.Now()
		c, err := dns.DialTimeout("tcp", server, 10*time.Second)
		if err != nil {
			l.fail(err.Error())
			continue
		}
		for i := range 10 {
			m := new(dns.Msg)
			m.SetQuestion("www.lb.up.", dns.TypeA)
			l.queries.Add(1)
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := c.WriteMsg(m); err != nil {
				l.fail(fmt.Sprintf("query %d on a connection: %v", i+1, err))
				break
			}
			r, err := c.ReadMsg()
			if err != nil {
				l.fail(fmt.Sprintf("query %d on a connection: %v", i+1, err))
				break
			}
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
				l.fail(r.String())
				break
			}
			l.answered.Add(1)
			time.Sleep(25 * time.Millisecond)
		}
		c.Close()
		closed := time.Now()
		l.mu.Lock()
		for _, u := range l.upgrades {
			if opened.Before(u[0]) && !u[1].IsZero() && closed.After(u[1]) {
				l.acrossUpgrade.Add(1)
				break
			}
		}
		l.mu.Unlock()
	}
}

func (l *tcpLoad) fail(s string) {
	l.failures.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first == "" {
		l.first = s
	}
}

func (l *tcpLoad) firstFailure() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}
