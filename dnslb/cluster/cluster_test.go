package cluster

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// fastGossip shortens memberlist's timeouts for tests on loopback.
func fastGossip(c *memberlist.Config) {
	*c = *memberlist.DefaultLocalConfig()
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 150 * time.Millisecond
	c.SuspicionMult = 3
	c.GossipInterval = 20 * time.Millisecond
	c.PushPullInterval = time.Second
	c.TCPTimeout = time.Second
	c.DeadNodeReclaimTime = time.Millisecond // a restarted instance reclaims its name at once
}

// node is one in-process instance with a view the test sets.
type node struct {
	c      *Cluster
	cancel context.CancelFunc
	done   chan struct{}
	logs   *testutil.SyncBuffer

	mu        sync.Mutex
	local     []Entry
	shared    map[string]Shared
	overrides map[ovKey]Override
}

func startNode(t *testing.T, name, bind string, peers []string, q string, digest string) *node {
	t.Helper()
	return startNodeCfg(t, &Config{Name: name, Bind: bind, Peers: peers, HealthQuorum: q}, digest)
}

func startNodeCfg(t *testing.T, cfg *Config, digest string) *node {
	t.Helper()
	return startNodeOpts(t, cfg, digest, nil)
}

func startNodeOpts(t *testing.T, cfg *Config, digest string, more func(*Options)) *node {
	t.Helper()
	if errs := cfg.Validate(t.TempDir()); len(errs) > 0 {
		t.Fatal(errs)
	}
	n := &node{shared: map[string]Shared{}, overrides: map[ovKey]Override{}, done: make(chan struct{}), logs: &testutil.SyncBuffer{}}
	o := Options{
		Logger: slog.New(slog.NewTextHandler(n.logs, nil)),
		Local: func() []Entry {
			n.mu.Lock()
			defer n.mu.Unlock()
			return append([]Entry(nil), n.local...)
		},
		OnHealth: func(k string, s Shared) {
			n.mu.Lock()
			n.shared[k] = s
			n.mu.Unlock()
		},
		OnOverride: func(o Override) {
			n.mu.Lock()
			n.overrides[ovKey{o.Pool, o.Addr}] = o
			n.mu.Unlock()
		},
		Digest: digest, Sync: 50 * time.Millisecond, Full: 10 * time.Second, Rejoin: 200 * time.Millisecond, Tune: fastGossip,
	}
	if more != nil {
		more(&o)
	}
	c, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	n.c = c
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { defer close(n.done); c.Run(ctx) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.done
}

// kill stops the instance without leaving: to the others it dies.
func (n *node) kill() {
	n.c.kill.Store(true)
	n.stop()
}

func (n *node) setLocal(es ...Entry) {
	n.mu.Lock()
	n.local = es
	n.mu.Unlock()
	n.c.Poke()
}

func (n *node) sharedOf(k string) (Shared, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.shared[k]
	return s, ok
}

func (n *node) peerState(name string) string {
	for _, p := range n.c.Peers() {
		if p.Name == name {
			return p.State
		}
	}
	return ""
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// three starts instances on 127.0.1.1-3; the later ones know the first.
func three(t *testing.T, q string) []*node {
	t.Helper()
	a := startNode(t, "ns1", "127.0.1.1:0", nil, q, "d1")
	b := startNode(t, "ns2", "127.0.1.2:0", []string{a.c.Addr()}, q, "d1")
	c := startNode(t, "ns3", "127.0.1.3:0", []string{a.c.Addr(), b.c.Addr()}, q, "d1")
	ns := []*node{a, b, c}
	for _, n := range ns {
		waitFor(t, n.c.Name()+" sees two live peers", func() bool {
			return n.peerState("ns1")+n.peerState("ns2")+n.peerState("ns3") == "alivealive"
		})
	}
	return ns
}

func upEntry(k string, up bool) Entry {
	return Entry{Key: k, Up: up, Probed: true, ChangeAt: time.Now().Add(time.Hour).UnixNano()}
}

func TestClusterQuorum(t *testing.T) {
	tests := []struct {
		quorum string
		want   bool // shared state when ns1 sees the target down, ns2 and ns3 up
	}{
		{"majority", true},
		{"all", false},
		{"any", true},
	}
	for _, tt := range tests {
		t.Run(tt.quorum, func(t *testing.T) {
			ns := three(t, tt.quorum)
			ns[0].setLocal(upEntry("web@192.0.2.1", false))
			ns[1].setLocal(upEntry("web@192.0.2.1", true))
			ns[2].setLocal(upEntry("web@192.0.2.1", true))
			for _, n := range ns {
				waitFor(t, n.c.Name()+" has three votes", func() bool {
					s, _ := n.sharedOf("web@192.0.2.1")
					return s.Voters == 3 && s.UpVotes == 2
				})
				if s, _ := n.sharedOf("web@192.0.2.1"); s.Up != tt.want {
					t.Errorf("%s: shared up = %v, want %v (%+v)", n.c.Name(), s.Up, tt.want, s)
				}
				votes, _ := n.c.Votes("web@192.0.2.1")
				if len(votes) != 3 || votes[0].Instance != n.c.Name() {
					t.Errorf("%s: votes %+v", n.c.Name(), votes)
				}
			}
		})
	}
}

func TestClusterAlone(t *testing.T) {
	n := startNode(t, "solo", "127.0.1.4:0", nil, "all", "d")
	n.setLocal(upEntry("k", true))
	waitFor(t, "own view", func() bool { s, ok := n.sharedOf("k"); return ok && s.Up && s.Voters == 1 })
	n.setLocal(upEntry("k", false))
	waitFor(t, "own view down", func() bool { s, _ := n.sharedOf("k"); return !s.Up })
}

func TestClusterOverridesDeathAndReturn(t *testing.T) {
	ns := three(t, "majority")
	addr := netip.MustParseAddr("192.0.2.7")
	start := time.Now()
	ns[0].c.SetOverride(Override{Pool: "www.", Addr: addr, State: 1, Since: start.UnixNano()})
	for _, n := range ns[1:] {
		waitFor(t, n.c.Name()+" gets the drain", func() bool {
			n.mu.Lock()
			defer n.mu.Unlock()
			return n.overrides[ovKey{"www.", addr}].State == 1
		})
	}
	t.Logf("override on all three after %v", time.Since(start))

	// ns1 sees the target down, ns2 and ns3 up: shared up; kill ns3 and
	// the shared state follows the two left (1 of 2 up: down).
	ns[0].setLocal(upEntry("k", false))
	ns[1].setLocal(upEntry("k", true))
	ns[2].setLocal(upEntry("k", true))
	waitFor(t, "three votes on ns1", func() bool { s, _ := ns[0].sharedOf("k"); return s.Voters == 3 && s.Up })
	killed := time.Now()
	ns[2].kill()
	for _, n := range ns[:2] {
		waitFor(t, n.c.Name()+" reports ns3 dead", func() bool { return n.peerState("ns3") == PeerDead })
		if !strings.Contains(n.logs.String(), "cluster peer dead") {
			t.Errorf("%s did not log the death:\n%s", n.c.Name(), n.logs.String())
		}
	}
	t.Logf("ns3 dead on both after %v", time.Since(killed))
	waitFor(t, "ns1 without ns3's vote", func() bool { s, _ := ns[0].sharedOf("k"); return s.Voters == 2 && !s.Up })

	// A later override while ns3 is away, then ns3 returns (a new life)
	// and knows it at once, by push/pull.
	ns[1].c.SetOverride(Override{Pool: "www.", Addr: addr, State: 0, Since: time.Now().UnixNano()})
	waitFor(t, "ns1 gets the clear", func() bool {
		ns[0].mu.Lock()
		defer ns[0].mu.Unlock()
		return ns[0].overrides[ovKey{"www.", addr}].State == 0
	})
	back := startNode(t, "ns3", "127.0.1.3:0", []string{ns[0].c.Addr()}, "majority", "d1")
	// An older drain restored from ns3's own state file loses to the clear.
	back.c.LoadOverrides([]Override{{Pool: "www.", Addr: addr, State: 1, Since: start.UnixNano()}})
	waitFor(t, "ns3 has the clear", func() bool {
		for _, o := range back.c.Overrides() {
			if o.Pool == "www." && o.Addr == addr {
				return o.State == 0
			}
		}
		return false
	})
	for _, n := range ns[:2] {
		waitFor(t, n.c.Name()+" sees ns3 return", func() bool { return n.peerState("ns3") == PeerAlive })
		if !strings.Contains(n.logs.String(), "cluster peer returned") {
			t.Errorf("%s did not log the return", n.c.Name())
		}
	}
	back.setLocal(upEntry("k", true))
	waitFor(t, "ns3's new vote counts", func() bool { s, _ := ns[0].sharedOf("k"); return s.Voters == 3 && s.Up })
}

func TestClusterDrift(t *testing.T) {
	a := startNode(t, "ns1", "127.0.1.5:0", nil, "majority", "same")
	b := startNode(t, "ns2", "127.0.1.6:0", []string{a.c.Addr()}, "majority", "other")
	waitFor(t, "drift seen", func() bool { d := a.c.Drift(); return len(d) == 1 && d[0] == "ns2" })
	if !strings.Contains(a.logs.String(), "cluster drift") || !strings.Contains(a.logs.String(), "ns2") {
		t.Errorf("no drift warning naming ns2:\n%s", a.logs.String())
	}
	b.c.SetDigest("same")
	waitFor(t, "drift resolved", func() bool { return len(a.c.Drift()) == 0 })
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"short.key": "c2hvcnQ=\n", "good.key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		cfg  Config
		errs []string // keys with errors
	}{
		{"loopback needs no key", Config{Name: "a", Bind: "127.0.1.1:7946"}, nil},
		{"default port", Config{Name: "a", Bind: "127.0.1.1"}, nil},
		{"public needs a key", Config{Name: "a", Bind: "192.0.2.1:7946"}, []string{"key_file"}},
		{"missing key file", Config{Name: "a", Bind: "192.0.2.1:7946", KeyFile: "nope"}, []string{"key_file"}},
		{"key file a device", Config{Name: "a", Bind: "192.0.2.1:7946", KeyFile: "/dev/zero"}, []string{"key_file"}},
		{"short key", Config{Name: "a", Bind: "192.0.2.1:7946", KeyFile: "short.key"}, []string{"key_file"}},
		{"good key", Config{Name: "a", Bind: "192.0.2.1:7946", KeyFile: "good.key"}, nil},
		{"no bind", Config{Name: "a"}, []string{"bind"}},
		{"wildcard bind", Config{Name: "a", Bind: "0.0.0.0:7946"}, []string{"bind"}},
		{"bad quorum", Config{Name: "a", Bind: "127.0.0.1:1", HealthQuorum: "most"}, []string{"health_quorum"}},
		{"bad peer", Config{Name: "a", Bind: "127.0.0.1:1", Peers: []string{"h:1", "h:99999"}}, []string{"peers[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.cfg.Validate(dir)
			var keys []string
			for _, e := range errs {
				keys = append(keys, e.Key)
			}
			if strings.Join(keys, ",") != strings.Join(tt.errs, ",") {
				t.Fatalf("errors %v, want keys %v", errs, tt.errs)
			}
		})
	}
}

// TestClusterKey: instances with the same key form a cluster; one with
// another key cannot join it.
func TestClusterKey(t *testing.T) {
	dir := t.TempDir()
	keys := map[string]string{"a.key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "b.key": "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="}
	for name, k := range keys {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(k+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a := startNodeCfg(t, &Config{Name: "ns1", Bind: "127.0.1.7:0", KeyFile: filepath.Join(dir, "a.key")}, "d")
	startNodeCfg(t, &Config{Name: "ns2", Bind: "127.0.1.8:0", KeyFile: filepath.Join(dir, "a.key"), Peers: []string{a.c.Addr()}}, "d")
	waitFor(t, "ns2 joins with the same key", func() bool { return a.peerState("ns2") == PeerAlive })
	c := startNodeCfg(t, &Config{Name: "ns3", Bind: "127.0.1.9:0", KeyFile: filepath.Join(dir, "b.key"), Peers: []string{a.c.Addr()}}, "d")
	time.Sleep(time.Second)
	if s := a.peerState("ns3"); s != "" {
		t.Fatalf("ns3 with another key is %q on ns1", s)
	}
	if s := c.peerState("ns1"); s != "" {
		t.Fatalf("ns1 is %q on ns3, which has another key", s)
	}
}

// TestClusterBindLater: at a binary upgrade the new process starts while
// the old one still holds the gossip address; it binds once the old one has
// left, and the cluster sees the instance come back.
func TestClusterBindLater(t *testing.T) {
	old := startNode(t, "ns1", "127.0.1.7:0", nil, "majority", "d")
	other := startNode(t, "ns2", "127.0.1.8:0", []string{old.c.Addr()}, "majority", "d")
	waitFor(t, "joined", func() bool { return other.peerState("ns1") == PeerAlive })
	addr := old.c.Addr()
	again := &Config{Name: "ns1", Bind: addr}
	if errs := again.Validate(t.TempDir()); len(errs) > 0 {
		t.Fatal(errs)
	}
	if c, err := New(again, Options{Tune: fastGossip}); err == nil {
		c.Close()
		t.Fatal("a second bind of a held address succeeded")
	}
	cfg := &Config{Name: "ns1", Bind: addr, Peers: []string{other.c.Addr()}}
	next := startNodeOpts(t, cfg, "d", func(o *Options) { o.BindLater = true })
	waitFor(t, "the new ns1 to wait for its address", func() bool { return strings.Contains(next.logs.String(), "binding it once free") })
	if other.peerState("ns1") != PeerAlive {
		t.Fatalf("before the old one goes: ns1 is %q on ns2; logs:\n%s", other.peerState("ns1"), next.logs.String())
	}
	old.stop()
	waitFor(t, "the new ns1 bound", func() bool { return strings.Contains(next.logs.String(), "gossip address bound") })
	waitFor(t, "ns2 sees ns1 again", func() bool { return other.peerState("ns1") == PeerAlive && next.peerState("ns2") == PeerAlive })
}
