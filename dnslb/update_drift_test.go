package dnslb

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/cluster"
	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/dnslb/testutil"
)

// driftHosts are two cluster instances on addresses of their own, so the
// gossip port can be fixed.
var driftHosts = []string{"127.0.8.21", "127.0.8.22"}

const driftGossipPort = 7946

// TestClusterDriftUpdates: two instances with the same files, each with its
// own journal, are in sync until one takes an update the other has not;
// then each names the other as drift, until the other takes the same
// update. Health-driven serials (the SOA) are not part of it.
func TestClusterDriftUpdates(t *testing.T) {
	var peers string
	for _, h := range driftHosts {
		peers += fmt.Sprintf("%q, ", fmt.Sprintf("%s:%d", h, driftGossipPort))
	}
	files := map[string]string{
		"acme.key": acmeSecret + "\n",
		"zone":     updZoneFile,
		"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = ""
[cluster]
peers = [` + peers + `]
[tsig.acme]
secret_file = "acme.key"
[[zone]]
origin = "lb.example.com."
file = "zone"
journal = "lb.jnl"
update = [{ key = "acme", names = ["_acme-challenge.lb.example.com.", "_acme-challenge.*.lb.example.com."], types = ["TXT"] }]
`,
	}
	var nodes []*testServer
	for i, h := range driftHosts {
		dir := testutil.WriteFiles(t, files) // same bytes, a journal each
		nodes = append(nodes, start(t, filepath.Join(dir, "dnslb.toml"), Options{Cluster: fastCluster, Host: config.Host{
			Listen: []string{h + ":0"}, ClusterName: fmt.Sprintf("ns%d", i+1),
			ClusterBind: fmt.Sprintf("%s:%d", h, driftGossipPort),
			StateFile:   filepath.Join(dir, "state"),
		}}))
	}
	for _, n := range nodes {
		testutil.WaitFor(t, 20*time.Second, n.cl.c.Name()+" sees its peer", func() bool {
			ps := n.cl.c.Peers()
			return len(ps) == 1 && ps[0].State == cluster.PeerAlive
		})
	}
	drift := func(n *testServer) []string { return n.cl.c.Drift() }
	if d0, d1 := drift(nodes[0]), drift(nodes[1]); len(d0)+len(d1) != 0 {
		t.Fatalf("drift before any update: %v %v", d0, d1)
	}
	send := func(ts *testServer, m *dns.Msg) {
		t.Helper()
		c := &dns.Client{TsigSecret: map[string]string{"acme.": acmeSecret}, Timeout: 3 * time.Second}
		m.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
		r, _, err := c.Exchange(m, ts.addr)
		if err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("update: %v %v", err, r)
		}
	}
	name := "_acme-challenge.app." + updZone
	send(nodes[0], addTXT(name, "token"))
	testutil.WaitFor(t, 20*time.Second, "each names the other as drift", func() bool {
		return slices.Equal(drift(nodes[0]), []string{"ns2"}) && slices.Equal(drift(nodes[1]), []string{"ns1"})
	})
	send(nodes[1], addTXT(name, "token"))
	testutil.WaitFor(t, 20*time.Second, "in sync again with the same update", func() bool {
		return len(drift(nodes[0]))+len(drift(nodes[1])) == 0
	})
	// Another update, undone: what updates changed is the same again.
	send(nodes[0], addTXT(name, "second"))
	testutil.WaitFor(t, 20*time.Second, "drift after a second update", func() bool { return len(drift(nodes[1])) == 1 })
	m := new(dns.Msg)
	m.SetUpdate(updZone)
	rr, _ := dns.NewRR(name + ` 60 IN TXT "second"`)
	m.Remove([]dns.RR{rr})
	send(nodes[0], m)
	testutil.WaitFor(t, 20*time.Second, "in sync once undone", func() bool {
		return len(drift(nodes[0]))+len(drift(nodes[1])) == 0
	})
	// A reload replays the journal to the same digest.
	d := nodes[0].cl.c.Digest()
	if err := nodes[0].Reload(); err != nil {
		t.Fatal(err)
	}
	if got := nodes[0].cl.c.Digest(); got != d {
		t.Fatalf("digest %s after a reload, was %s", got, d)
	}
}
