package dnslb

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/cluster"
	"github.com/dnslb/dnslb/dnslb/config"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// The cluster tests' fixed addresses (127.0.1.x is the cluster's range):
// instances on 127.0.1.1-3, backends on 127.0.1.21-22.
var (
	clusterHosts    = []string{"127.0.1.1", "127.0.1.2", "127.0.1.3"}
	clusterBackends = []string{"127.0.1.21", "127.0.1.22"}
)

// clusterConfigText is one file for every instance; what differs per host
// comes as HostSettings (the flags of cmd/dnslb).
const clusterConfigText = `[server]
listen = ["127.0.0.1:0"]
http = "127.0.0.1:0"
admin_token_file = "token"

[cluster]
peers = [%s]
health_quorum = "%s"

[[zone]]
origin = "lb.example."
records = ["@ 3600 IN SOA ns1 hostmaster 1 3600 900 604800 60", "@ 3600 IN NS ns1", "ns1 3600 IN A 127.0.1.1"]

[check.web]
type = "http"
port = %d
interval = "300ms"
timeout = "250ms"
rise = 2
fall = 3

[[pool]]
name = "www.lb.example."
policy = "all"
answers = 0
ttl = 10
check = "web"
members = [%s]
`

// refusingBackend is an HTTP backend that answers 503 to probes from one
// source address: the route from that instance is "broken".
type refusingBackend struct {
	srv    *http.Server
	refuse atomic.Value // netip.Addr
}

// startRefusingBackends serves one on each of hosts, all on one port: the
// first binds port 0, the others that port (the whole set again on another
// when one of them has it taken).
func startRefusingBackends(t *testing.T, hosts []string) ([]*refusingBackend, int) {
	t.Helper()
	for range 20 {
		var lns []net.Listener
		port := 0
		for _, h := range hosts {
			ln, err := net.Listen("tcp", net.JoinHostPort(h, fmt.Sprint(port)))
			if err != nil {
				break
			}
			port = ln.Addr().(*net.TCPAddr).Port
			lns = append(lns, ln)
		}
		if len(lns) < len(hosts) {
			for _, ln := range lns {
				ln.Close()
			}
			continue
		}
		var bs []*refusingBackend
		for _, ln := range lns {
			b := &refusingBackend{}
			b.refuse.Store(netip.Addr{})
			b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				from, _ := netip.ParseAddrPort(r.RemoteAddr)
				if from.Addr() == b.refuse.Load().(netip.Addr) {
					http.Error(w, "not from you", http.StatusServiceUnavailable)
					return
				}
				fmt.Fprintln(w, "ok")
			})}
			go b.srv.Serve(ln)
			t.Cleanup(func() { b.srv.Close() })
			bs = append(bs, b)
		}
		return bs, port
	}
	t.Fatalf("no port free on every one of %v", hosts)
	return nil, 0
}

// fastCluster shortens memberlist's timing for loopback tests, with room
// for a loaded machine (a false death breaks the quorum tests).
var fastCluster = ClusterTuning{Sync: 50 * time.Millisecond, Memberlist: func(c *cluster.MemberlistConfig) {
	c.ProbeInterval = time.Second
	c.ProbeTimeout = 500 * time.Millisecond
	c.SuspicionMult = 3
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = 2 * time.Second
	c.TCPTimeout = time.Second
	c.DeadNodeReclaimTime = time.Millisecond
}}

type clusterFixture struct {
	dir   string
	cfg   string
	port  int // gossip
	bs    []*refusingBackend
	nodes []*testServer
}

func newClusterFixture(t *testing.T, quorum string) *clusterFixture {
	t.Helper()
	bs, bport := startRefusingBackends(t, clusterBackends)
	// Every instance binds this port (the shared config names the peers).
	gport := testutil.FreePort(t, clusterHosts...)
	var peers, members []string
	for _, h := range clusterHosts {
		peers = append(peers, fmt.Sprintf("%q", net.JoinHostPort(h, fmt.Sprint(gport))))
	}
	for _, h := range clusterBackends {
		members = append(members, fmt.Sprintf("{ address = %q }", h))
	}
	dir := testutil.WriteFiles(t, map[string]string{
		"token":      testToken + "\n",
		"dnslb.toml": fmt.Sprintf(clusterConfigText, strings.Join(peers, ", "), quorum, bport, strings.Join(members, ", ")),
	})
	f := &clusterFixture{dir: dir, cfg: filepath.Join(dir, "dnslb.toml"), port: gport, bs: bs}
	for i := range clusterHosts {
		f.nodes = append(f.nodes, f.start(t, i))
	}
	for _, n := range f.nodes {
		testutil.WaitFor(t, 20*time.Second, n.cl.c.Name()+" sees two live peers", func() bool {
			alive := 0
			for _, p := range n.cl.c.Peers() {
				if p.State == cluster.PeerAlive {
					alive++
				}
			}
			return alive == 2
		})
	}
	return f
}

// start runs instance i with its host settings, as its flags would give.
func (f *clusterFixture) start(t *testing.T, i int) *testServer {
	h := clusterHosts[i]
	return start(t, f.cfg, Options{Cluster: fastCluster, ProbeSource: netip.MustParseAddr(h), Host: config.Host{
		Listen: []string{h + ":0"}, ClusterName: fmt.Sprintf("ns%d", i+1),
		ClusterBind: net.JoinHostPort(h, fmt.Sprint(f.port)),
		StateFile:   filepath.Join(f.dir, fmt.Sprintf("ns%d.state", i+1)),
	}})
}

func (ts *testServer) poolMembers(t *testing.T) []string {
	t.Helper()
	a := addresses(ts.ask(t, "udp", "www.lb.example.", dns.TypeA))
	slices.Sort(a)
	return a
}

func (ts *testServer) apiStatus(t *testing.T) statusJSON {
	t.Helper()
	resp, err := http.Get(ts.http + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st statusJSON
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// votersOf is how many live instances have probed the member, as ts sees it.
func (ts *testServer) votersOf(t *testing.T, addr string) int {
	for _, p := range ts.apiStatus(t).Pools {
		for _, m := range p.Members {
			if m.Address == addr {
				n := 0
				for _, v := range m.Votes {
					if v.Probed {
						n++
					}
				}
				return n
			}
		}
	}
	return 0
}

// TestClusterQuorum: a backend that refuses one instance's probes stays in
// every instance's answers with majority, and leaves them with all.
func TestClusterQuorum(t *testing.T) {
	tests := []struct {
		quorum string
		want   []string // every instance's answer while ns1 cannot reach .21
	}{
		{"majority", []string{"127.0.1.21", "127.0.1.22"}},
		{"all", []string{"127.0.1.22"}},
		{"any", []string{"127.0.1.21", "127.0.1.22"}},
	}
	for _, tt := range tests {
		t.Run(tt.quorum, func(t *testing.T) {
			f := newClusterFixture(t, tt.quorum)
			f.bs[0].refuse.Store(netip.MustParseAddr(clusterHosts[0]))
			ns1 := f.nodes[0]
			testutil.WaitFor(t, 20*time.Second, "ns1 sees .21 down itself", func() bool {
				for _, p := range ns1.apiStatus(t).Pools {
					for _, m := range p.Members {
						if m.Address == "127.0.1.21" {
							return m.LocalHealth == "down"
						}
					}
				}
				return false
			})
			for _, n := range f.nodes {
				testutil.WaitFor(t, 20*time.Second, n.cl.c.Name()+" has three views", func() bool { return n.votersOf(t, "127.0.1.21") == 3 })
				testutil.WaitFor(t, 20*time.Second, n.cl.c.Name()+" answers "+strings.Join(tt.want, " "), func() bool {
					return slices.Equal(n.poolMembers(t), tt.want)
				})
			}
			// And it holds: probes go on and the answers stay.
			time.Sleep(time.Second)
			for _, n := range f.nodes {
				if got := n.poolMembers(t); !slices.Equal(got, tt.want) {
					t.Errorf("%s answers %v, want %v", n.cl.c.Name(), got, tt.want)
				}
			}
			// The route comes back: .21 is in every answer under any quorum.
			f.bs[0].refuse.Store(netip.Addr{})
			for _, n := range f.nodes {
				testutil.WaitFor(t, 20*time.Second, n.cl.c.Name()+" answers both", func() bool {
					return len(n.poolMembers(t)) == 2
				})
			}
		})
	}
}

// TestClusterOverrides: a drain on one instance shows on the others, is in
// each one's state file, and an instance that leaves and comes back has it.
func TestClusterOverrides(t *testing.T) {
	f := newClusterFixture(t, "majority")
	const drain = "/api/v1/pools/www.lb.example./members/127.0.1.21/override"
	for _, n := range f.nodes {
		testutil.WaitFor(t, 20*time.Second, n.cl.c.Name()+" answers both", func() bool { return len(n.poolMembers(t)) == 2 })
	}
	set := time.Now()
	if code, body := f.nodes[0].post(t, drain, testToken, `{"override":"drain"}`); code != http.StatusOK {
		t.Fatalf("drain on ns1: %d %s", code, body)
	}
	for _, n := range f.nodes {
		testutil.WaitFor(t, 10*time.Second, n.cl.c.Name()+" without the drained member", func() bool {
			return slices.Equal(n.poolMembers(t), []string{"127.0.1.22"})
		})
	}
	t.Logf("drain on ns1 out of every instance's answers after %v", time.Since(set))
	for i := range f.nodes {
		p := filepath.Join(f.dir, fmt.Sprintf("ns%d.state", i+1))
		testutil.WaitFor(t, 20*time.Second, p+" holds the drain", func() bool {
			b, _ := os.ReadFile(p)
			return strings.Contains(string(b), `"override": "drain"`)
		})
	}
	st := f.nodes[2].apiStatus(t)
	if st.Cluster == nil || st.Cluster.Name != "ns3" || len(st.Cluster.Peers) != 2 || len(st.Cluster.Drift) != 0 {
		t.Fatalf("ns3's cluster status: %+v", st.Cluster)
	}

	// ns3 leaves; the drain is cleared on ns2 meanwhile; ns3 restarts with
	// its state file saying drain and takes the later clear.
	f.nodes[2].stop()
	testutil.WaitFor(t, 10*time.Second, "ns1 sees ns3 leave", func() bool {
		for _, p := range f.nodes[0].cl.c.Peers() {
			if p.Name == "ns3" {
				return p.State == cluster.PeerLeft
			}
		}
		return false
	})
	if code, body := f.nodes[1].post(t, drain, testToken, `{"override":"none"}`); code != http.StatusOK {
		t.Fatalf("clear on ns2: %d %s", code, body)
	}
	testutil.WaitFor(t, 10*time.Second, "ns1 serves .21 again", func() bool { return len(f.nodes[0].poolMembers(t)) == 2 })
	for _, p := range []string{"ns1.state", "ns2.state"} {
		testutil.WaitFor(t, 20*time.Second, p+" keeps the clear with its time", func() bool {
			b, _ := os.ReadFile(filepath.Join(f.dir, p))
			return strings.Contains(string(b), `"override": "none"`)
		})
	}
	f.nodes[2] = f.start(t, 2)
	testutil.WaitFor(t, 10*time.Second, "ns3 back, with the clear", func() bool { return len(f.nodes[2].poolMembers(t)) == 2 })
	testutil.WaitFor(t, 10*time.Second, "ns1 logs ns3's return", func() bool {
		return strings.Contains(f.nodes[0].logs.String(), "cluster peer returned")
	})
}

// TestClusterDrift: instances whose config differs are named in the log,
// the status and the metric.
func TestClusterDrift(t *testing.T) {
	f := newClusterFixture(t, "majority")
	// ns2 reloads a config with another zone record; the others keep theirs.
	b, _ := os.ReadFile(f.cfg)
	other := filepath.Join(f.dir, "other.toml")
	if err := os.WriteFile(other, []byte(strings.Replace(string(b), "hostmaster 1 ", "hostmaster 2 ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ns2 := f.nodes[1]
	ns2.cfgPath = other
	done := make(chan struct{})
	go func() { // the status page read while the reload runs
		defer close(done)
		for range 20 {
			ns2.status()
		}
	}()
	if err := ns2.Reload(); err != nil {
		t.Fatal(err)
	}
	<-done
	if st := ns2.apiStatus(t); st.Cluster == nil || st.Cluster.Digest != ns2.cl.c.Digest() || st.Cluster.Digest == f.nodes[0].apiStatus(t).Cluster.Digest {
		t.Errorf("ns2's status after the reload: %+v", st.Cluster)
	}
	testutil.WaitFor(t, 10*time.Second, "ns1 names ns2 as drift", func() bool {
		st := f.nodes[0].apiStatus(t)
		return st.Cluster != nil && slices.Equal(st.Cluster.Drift, []string{"ns2"})
	})
	if !strings.Contains(f.nodes[0].logs.String(), "cluster drift") {
		t.Error("no drift warning in ns1's log")
	}
	// Peers by state (a loaded machine may briefly show one suspect) and
	// the drift.
	testutil.WaitFor(t, 10*time.Second, "ns1's cluster metrics", func() bool {
		m := f.nodes[0].scrape(t)
		return m["dnslb_cluster_drift_peers"] == 1 && hasKey(m, "dnslb_cluster_peers{state=dead}") &&
			m["dnslb_cluster_peers{state=alive}"]+m["dnslb_cluster_peers{state=suspect}"] == 2
	})
}

// TestClusterStatusPageInBrowser: the status page shows the cluster's peers
// and, per member, each instance's view.
func TestClusterStatusPageInBrowser(t *testing.T) {
	f := newClusterFixture(t, "majority")
	f.bs[0].refuse.Store(netip.MustParseAddr(clusterHosts[0]))
	ns2 := f.nodes[1]
	testutil.WaitFor(t, 20*time.Second, "ns2 holds ns1's down view", func() bool {
		for _, p := range ns2.apiStatus(t).Pools {
			for _, m := range p.Members {
				for _, v := range m.Votes {
					if m.Address == "127.0.1.21" && v.Instance == "ns1" && v.Probed && !v.Up {
						return true
					}
				}
			}
		}
		return false
	})
	_, eval := openStatus(t, ns2.http+"/status", `section[data-cluster="ns2"]`)
	for _, peer := range []string{"ns1", "ns3"} {
		if got := eval(fmt.Sprintf(`(document.querySelector('tr[data-peer=%q]') || {dataset: {}}).dataset.state || ""`, peer)); got != "alive" {
			t.Errorf("peer %s shown %q, want alive", peer, got)
		}
	}
	votes := eval(`document.querySelector('tr[data-member="127.0.1.21"] td[data-votes]').textContent`)
	for _, want := range []string{"ns1 down", "ns2 up", "ns3 up"} {
		if !strings.Contains(votes, want) {
			t.Errorf("views of 127.0.1.21 %q lack %q", votes, want)
		}
	}
	if got := eval(`document.querySelector('tr[data-member="127.0.1.21"]').dataset.health`); got != "up" {
		t.Errorf("127.0.1.21 shown %q, want up (2 of 3)", got)
	}
}

// TestClusterReloadRestartOnly: [cluster] cannot be added by a reload (the
// running config keeps serving), and a change of its keys is said to need a
// restart.
func TestClusterReloadRestartOnly(t *testing.T) {
	zone := "[[zone]]\norigin = \"example.\"\nrecords = [\"@ 60 IN SOA ns1 hm 1 2 3 4 5\", \"@ 60 IN NS ns1\", \"ns1 60 IN A 192.0.2.1\"]\n"
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": "[server]\nlisten = [\"127.0.0.1:0\"]\nhttp = \"\"\n" + zone})
	cfg := filepath.Join(dir, "dnslb.toml")
	ts := start(t, cfg, Options{})
	withCluster := "[server]\nlisten = [\"127.0.0.1:0\"]\nhttp = \"\"\n[cluster]\nname = \"ns1\"\nbind = \"127.0.1.6:0\"\n" + zone
	if err := os.WriteFile(cfg, []byte(withCluster), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(); err == nil || !strings.Contains(err.Error(), "only at restart") {
		t.Fatalf("reload adding [cluster]: %v", err)
	}

	ts2 := start(t, cfg, Options{})
	if err := os.WriteFile(cfg, []byte(strings.Replace(withCluster, "[cluster]\n", "[cluster]\nhealth_quorum = \"all\"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ts2.Reload(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ts2.logs.String(), "[cluster] settings change only at restart") {
		t.Error("no warning that [cluster] changes need a restart")
	}
}
