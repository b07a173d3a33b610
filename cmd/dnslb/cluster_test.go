package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// The cluster's fixed addresses (127.0.1.x is its range): three dnslb on
// 127.0.1.1-3 port 53 (gossip on 7946), NSD for the parent on 127.0.1.4,
// Unbound on 127.0.1.5, backends on 127.0.1.31-32 (the in-process tests of
// package dnslb, which may run at the same time, use .21-22).
var (
	accHosts    = []string{"127.0.1.1", "127.0.1.2", "127.0.1.3"}
	accBackends = []string{"127.0.1.31", "127.0.1.32"}
)

const (
	accParent   = "127.0.1.4"
	accResolver = "127.0.1.5"
	accToken    = "cluster-test-token-0123456789abcdef"
)

// One config file for the three hosts; each gives -listen, -http,
// -cluster-name, -cluster-bind, -probe-source and -state-file.
const accConfig = `[server]
admin_token_file = "token"

[cluster]
peers = ["127.0.1.1:7946", "127.0.1.2:7946", "127.0.1.3:7946"]
health_quorum = "majority"

[[zone]]
origin = "lb.example."
records = [
  "@ 3600 IN SOA ns1 hostmaster 1 3600 900 604800 60",
  "@ 3600 IN NS ns1", "@ 3600 IN NS ns2", "@ 3600 IN NS ns3",
  "ns1 3600 IN A 127.0.1.1", "ns2 3600 IN A 127.0.1.2", "ns3 3600 IN A 127.0.1.3",
]

[check.web]
type = "http"
port = %d
interval = "1s"
timeout = "500ms"

[[pool]]
name = "www.lb.example."
policy = "all"
answers = 0
ttl = 1
check = "web"
members = [{ address = "127.0.1.31" }, { address = "127.0.1.32" }]
`

const accParentZone = `$ORIGIN example.
$TTL 3600
@        SOA   ns1.example. hostmaster.example. 1 3600 900 604800 300
@        NS    ns1.example.
ns1      A     127.0.1.4
lb       NS    ns1.lb.example.
lb       NS    ns2.lb.example.
lb       NS    ns3.lb.example.
ns1.lb   A     127.0.1.1
ns2.lb   A     127.0.1.2
ns3.lb   A     127.0.1.3
`

// query asks server for name/A and returns the addresses, sorted.
func query(server, name string, timeout time.Duration) ([]string, int, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Timeout: timeout}
	r, _, err := c.Exchange(m, net.JoinHostPort(server, "53"))
	if err != nil {
		return nil, 0, err
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	sort.Strings(out)
	return out, r.Rcode, nil
}

// poll is testutil.WaitFor returning when cond held.
func poll(t *testing.T, d time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	testutil.WaitFor(t, d, what, cond)
	return time.Now()
}

type accStatus struct {
	Cluster struct {
		Peers []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"peers"`
	} `json:"cluster"`
}

func peerState(host, peer string) string {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + host + ":8053/api/v1/status")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var st accStatus
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return ""
	}
	for _, p := range st.Cluster.Peers {
		if p.Name == peer {
			return p.State
		}
	}
	return ""
}

func override(t *testing.T, host, member, ov string) {
	t.Helper()
	api := &apiClient{base: "http://" + host + ":8053", token: accToken}
	if code, body := api.post("/api/v1/pools/www.lb.example./members/"+member+"/override", `{"override":"`+ov+`"}`); code != http.StatusOK {
		t.Fatalf("override %s on %s: %d %s", ov, host, code, body)
	}
}

// sample is one query through the resolver.
type sample struct {
	at  time.Time
	rtt time.Duration
	ok  bool
}

// TestClusterAcceptance runs three real dnslb processes from one config
// file behind an NS set, with NSD as the parent and Unbound resolving: a
// drain on one shows on the others; one killed (SIGKILL) is reported dead by
// the others, which keep answering; Unbound keeps resolving (the hiccup is
// measured); restarted, it rejoins and has the override set meanwhile.
func TestClusterAcceptance(t *testing.T) {
	testutil.RequireTools(t, "nsd", "unbound")
	bin := builds.Binary(t, ".", "")
	// Backends: plain HTTP on one port on both addresses.
	_, port := testutil.Backends(t, "http", accBackends...)
	dir := testutil.WriteFiles(t, map[string]string{
		"token":      accToken + "\n",
		"dnslb.toml": fmt.Sprintf(accConfig, port),
	})
	startDNSLB := func(i int) *testutil.Proc {
		h := accHosts[i]
		return testutil.Run(t, fmt.Sprintf("ns%d", i+1), bin, "-config", filepath.Join(dir, "dnslb.toml"),
			"-listen", h+":53", "-http", h+":8053", "-cluster-name", fmt.Sprintf("ns%d", i+1),
			"-cluster-bind", h+":7946", "-probe-source", h, "-state-file", filepath.Join(dir, fmt.Sprintf("ns%d.state", i+1)),
			"-pidfile", filepath.Join(dir, fmt.Sprintf("ns%d.pid", i+1)))
	}
	both := []string{"127.0.1.31", "127.0.1.32"}
	ps := make([]*testutil.Proc, 3)
	for i := range ps {
		ps[i] = startDNSLB(i)
	}
	for i, h := range accHosts {
		poll(t, 20*time.Second, h+" answers both members", func() bool {
			got, _, err := query(h, "www.lb.example.", time.Second)
			return err == nil && slices.Equal(got, both)
		})
		for j := range accHosts {
			if j != i {
				poll(t, 20*time.Second, fmt.Sprintf("ns%d sees ns%d alive", i+1, j+1), func() bool { return peerState(h, fmt.Sprintf("ns%d", j+1)) == "alive" })
			}
		}
	}

	// A drain on ns1 shows on ns2 and ns3.
	set := time.Now()
	override(t, accHosts[0], "127.0.1.31", "drain")
	var seen []time.Duration
	for _, h := range accHosts[1:] {
		at := poll(t, 10*time.Second, h+" drops the drained member", func() bool {
			got, _, err := query(h, "www.lb.example.", time.Second)
			return err == nil && slices.Equal(got, []string{"127.0.1.32"})
		})
		seen = append(seen, at.Sub(set))
	}
	t.Logf("MEASURE override propagation (drain on ns1 → out of ns2's and ns3's answers): %v", seen)
	override(t, accHosts[1], "127.0.1.31", "none")
	for _, h := range accHosts {
		poll(t, 10*time.Second, h+" serves both again", func() bool {
			got, _, err := query(h, "www.lb.example.", time.Second)
			return err == nil && slices.Equal(got, both)
		})
	}

	testutil.StartNSD(t, testutil.NSD{Listen: accParent + ":53", Zones: []testutil.NSDZone{{Name: "example.", Text: accParentZone}}})
	testutil.StartUnbound(t, testutil.Unbound{Listen: accResolver + ":53", Stubs: []testutil.Stub{{Zone: "example.", Addr: accParent}}})
	poll(t, 10*time.Second, "Unbound resolves through the NS set", func() bool {
		got, _, err := query(accResolver, "www.lb.example.", time.Second)
		return err == nil && slices.Equal(got, both)
	})

	// Sample Unbound every 50 ms from 3 s before the kill to 10 s after.
	var mu sync.Mutex
	var samples []sample
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			start := time.Now()
			got, rcode, err := query(accResolver, "www.lb.example.", 5*time.Second)
			s := sample{at: start, rtt: time.Since(start), ok: err == nil && rcode == dns.RcodeSuccess && len(got) > 0}
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		}
	}()
	time.Sleep(3 * time.Second)
	killed := time.Now()
	ps[2].Kill()
	var dead []time.Duration
	for _, h := range accHosts[:2] {
		at := poll(t, 30*time.Second, h+" reports ns3 dead", func() bool { return peerState(h, "ns3") == "dead" })
		dead = append(dead, at.Sub(killed))
		if got, _, err := query(h, "www.lb.example.", time.Second); err != nil || !slices.Equal(got, both) {
			t.Errorf("%s after ns3's death: %v %v", h, got, err)
		}
	}
	t.Logf("MEASURE peer death detection (SIGKILL of ns3 → dead on ns1, ns2; memberlist LAN profile): %v", dead)

	// While ns3 is dead, ns2 drains .32.
	override(t, accHosts[1], "127.0.1.32", "drain")
	poll(t, 10*time.Second, "ns1 drops .32", func() bool {
		got, _, err := query(accHosts[0], "www.lb.example.", time.Second)
		return err == nil && slices.Equal(got, []string{"127.0.1.31"})
	})
	time.Sleep(time.Until(killed.Add(10 * time.Second)))
	close(stop)
	wg.Wait()

	var before, after []time.Duration
	failed := 0
	for _, s := range samples {
		if s.at.Before(killed) {
			before = append(before, s.rtt)
			continue
		}
		after = append(after, s.rtt)
		if !s.ok {
			failed++
		}
	}
	slices.Sort(before)
	slices.Sort(after)
	slow := 0
	for _, d := range after {
		if d > 200*time.Millisecond {
			slow++
		}
	}
	t.Logf("MEASURE resolver hiccup (Unbound, NS set of 3, one killed; query every 50 ms): before: %d queries, max %v; 10 s after: %d queries, %d failed, %d over 200 ms, max %v, median %v",
		len(before), before[len(before)-1], len(after), failed, slow, after[len(after)-1], after[len(after)/2])
	if failed > 0 {
		t.Errorf("%d of %d queries through Unbound failed after one of three servers was killed", failed, len(after))
	}

	// ns3 restarts with its state file (no drain of .32) and gets the
	// drain at once from its peers.
	restarted := time.Now()
	ps[2] = startDNSLB(2)
	at := poll(t, 20*time.Second, "ns3 answers without the drained member", func() bool {
		got, _, err := query(accHosts[2], "www.lb.example.", time.Second)
		return err == nil && slices.Equal(got, []string{"127.0.1.31"})
	})
	for _, h := range accHosts[:2] {
		poll(t, 20*time.Second, h+" sees ns3 alive again", func() bool { return peerState(h, "ns3") == "alive" })
	}
	t.Logf("MEASURE rejoin (restart of ns3 → its answers carry the override set while it was dead): %v", at.Sub(restarted))
	// The state file is written after the override is applied, so the
	// answer can change before the file does.
	poll(t, 20*time.Second, "ns3's state file to hold the drain it learnt", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "ns3.state"))
		return strings.Contains(string(b), "127.0.1.32")
	})

	// A binary upgrade of ns1 (the same binary again): the new process
	// takes the sockets and the shared state, binds the gossip address once
	// the old one has left, and is in the cluster again.
	// The upgraded process is no child of the test but is in ns1's process
	// group, which testutil.Proc stops.
	pidFile := filepath.Join(dir, "ns1.pid")
	oldPID := readPID(pidFile)
	api := &apiClient{base: "http://" + accHosts[0] + ":8053", token: accToken}
	if code, body := api.post("/api/v1/upgrade", ""); code != http.StatusOK {
		t.Fatalf("upgrade of ns1: %d %s\n%s", code, body, ps[0].Output())
	}
	upgraded := time.Now()
	poll(t, 20*time.Second, "a new ns1 process", func() bool { pid := readPID(pidFile); return pid > 0 && pid != oldPID })
	at = poll(t, 30*time.Second, "the new ns1 back in the cluster", func() bool {
		return peerState(accHosts[0], "ns2") == "alive" && peerState(accHosts[0], "ns3") == "alive" &&
			peerState(accHosts[1], "ns1") == "alive" && peerState(accHosts[2], "ns1") == "alive"
	})
	t.Logf("MEASURE upgrade (POST /api/v1/upgrade on ns1 → the new process in the cluster, seen by all): %v", at.Sub(upgraded))
	if got, _, err := query(accHosts[0], "www.lb.example.", time.Second); err != nil || !slices.Equal(got, []string{"127.0.1.31"}) {
		t.Errorf("the upgraded ns1 answers %v %v, want the drain kept", got, err)
	}
}
