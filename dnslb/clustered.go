package dnslb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dnslb/dnslb/dnslb/cluster"
	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/health"
)

// clusterLink joins a server to its cluster. The prober runs Shared: its
// own results go to the cluster as this instance's view, and the quorum the
// cluster computes comes back through Prober.SetShared, into the same Up
// atomics and health generation answers read. Overrides go both ways
// through memberStates, which persists them.
type clusterLink struct {
	s      *Server
	c      *cluster.Cluster
	files  string // digest of the config and zone files; New and reloads write it
	digest string // the last announced (files and updates); read and written by New, reloads and updates only (one at a time)

	mu      sync.Mutex
	targets map[string]*health.Target // by key, as of the last local view
}

// ClusterTuning adjusts the cluster's timing; tests shorten it.
type ClusterTuning struct {
	Sync       time.Duration // default 250ms: how often changed views are sent
	Memberlist func(*cluster.MemberlistConfig)
}

func newClusterLink(s *Server, cfg *config.Config) (*clusterLink, error) {
	files, err := clusterDigest(cfg)
	if err != nil {
		return nil, err
	}
	digest := withUpdates(files, s.snap.Load())
	l := &clusterLink{s: s, files: files, digest: digest}
	o := cluster.Options{
		Logger: s.log, Local: l.local, OnHealth: l.onHealth, OnOverride: l.onOverride, Digest: digest,
		Sync: s.opts.Cluster.Sync, Tune: s.opts.Cluster.Memberlist,
		// At an upgrade the previous process holds the gossip address
		// until this one serves.
		BindLater: s.inherited,
	}
	c, err := cluster.New(cfg.Cluster, o)
	if err != nil {
		return nil, err
	}
	l.c = c
	// Overrides restored from the state file reach the others, unless
	// they know of later changes.
	var ovs []cluster.Override
	for _, o := range s.states.list() {
		ovs = append(ovs, cluster.Override{Pool: o.pool, Addr: o.addr, State: uint8(o.override), Since: o.since})
	}
	c.LoadOverrides(ovs)
	s.registry.MustRegister(&clusterCollector{l: l})
	return l, nil
}

func (l *clusterLink) run(ctx context.Context) {
	if err := l.c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		l.s.log.Error("cluster stopped", "err", err)
	}
}

// local is this instance's view of every target, for the cluster.
func (l *clusterLink) local() []cluster.Entry {
	ts := l.s.prober.Targets()
	out := make([]cluster.Entry, 0, len(ts))
	m := make(map[string]*health.Target, len(ts))
	for _, t := range ts {
		k := t.Key().String()
		up, probed, at := t.LocalView()
		out = append(out, cluster.Entry{Key: k, Up: up, Probed: probed, ChangeAt: at.UnixNano()})
		m[k] = t
	}
	l.mu.Lock()
	l.targets = m
	l.mu.Unlock()
	return out
}

func (l *clusterLink) onHealth(key string, sh cluster.Shared) {
	l.mu.Lock()
	t := l.targets[key]
	l.mu.Unlock()
	if t == nil {
		return
	}
	if l.s.prober.SetShared(t, sh.Up, sh.PeersChangeAt) {
		l.s.log.Info("cluster health transition", "target", key, "to", stateWord(sh.Up),
			"up_votes", sh.UpVotes, "voters", sh.Voters, "quorum", l.c.Quorum().String())
	}
}

func stateWord(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// onOverride applies an override set on another instance and persists it.
func (l *clusterLink) onOverride(o cluster.Override) {
	if int(o.State) >= len(overrideNames) {
		l.s.log.Warn("cluster: override of an unknown kind ignored", "pool", o.Pool, "member", o.Addr.String(), "state", o.State, "from", o.Origin)
		return
	}
	err := l.s.states.setOverride(o.Pool, o.Addr, uint32(o.State), time.Unix(0, o.Since))
	if err != nil {
		// Applied in memory all the same: the cluster has decided, and
		// its push/pull gives it back after a restart.
		l.s.log.Error("override from a peer not saved", "pool", o.Pool, "member", o.Addr.String(), "err", err)
	}
	l.s.log.Info("override set by a peer", "pool", o.Pool, "member", o.Addr.String(), "override", overrideNames[o.State], "from", o.Origin)
}

// setOverride tells the cluster of an override set here.
func (l *clusterLink) setOverride(pool string, addr netip.Addr, ov uint32, at time.Time) {
	l.c.SetOverride(cluster.Override{Pool: pool, Addr: addr, State: uint8(ov), Since: at.UnixNano()})
}

// reloaded announces the new digest when the config, the zones or the
// updates (journals replayed by the reload) changed.
func (l *clusterLink) reloaded(cfg *config.Config, snap *snapshot) {
	f, err := clusterDigest(cfg)
	if err != nil {
		l.s.log.Warn("cluster digest not updated", "err", err)
		return
	}
	l.files = f
	l.updated(snap)
}

// updated announces the new digest when an update changed what the
// journals hold; snap is the snapshot serving it.
func (l *clusterLink) updated(snap *snapshot) {
	if d := withUpdates(l.files, snap); d != l.digest {
		l.digest = d
		l.c.SetDigest(d)
	}
}

// withUpdates is the digest an instance announces: its files' digest, and
// what updates changed in its zones when they changed anything (so that
// instances without updates keep the files' digest).
func withUpdates(files string, snap *snapshot) string {
	u := snap.updatesDigest()
	if u == "" {
		return files
	}
	h := sha256.Sum256([]byte(files + " updates " + u))
	return hex.EncodeToString(h[:])[:16]
}

// clusterStatus is the cluster part of /api/v1/status.
type clusterStatus struct {
	Name    string               `json:"name"`
	Address string               `json:"address"`
	Quorum  string               `json:"health_quorum"`
	Digest  string               `json:"digest"`
	Drift   []string             `json:"drift"` // live peers running another config or zone data
	Peers   []cluster.PeerStatus `json:"peers"`
}

func (l *clusterLink) status() *clusterStatus {
	return &clusterStatus{Name: l.c.Name(), Address: l.c.Addr(), Quorum: l.c.Quorum().String(), Digest: l.c.Digest(),
		Drift: append([]string{}, l.c.Drift()...), Peers: l.c.Peers()}
}

// clusterCollector exports the peers' states and the drift.
type clusterCollector struct{ l *clusterLink }

var (
	clusterPeersDesc = prometheus.NewDesc("dnslb_cluster_peers", "Cluster peers by state (alive, suspect, dead, left) as this instance sees them.", []string{"state"}, nil)
	clusterDriftDesc = prometheus.NewDesc("dnslb_cluster_drift_peers", "Live cluster peers whose config or zone digest differs from this instance's.", nil, nil)
)

func (cc *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- clusterPeersDesc
	ch <- clusterDriftDesc
}

func (cc *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	n := map[string]int{cluster.PeerAlive: 0, cluster.PeerSuspect: 0, cluster.PeerDead: 0, cluster.PeerLeft: 0}
	for _, p := range cc.l.c.Peers() {
		n[p.State]++
	}
	for st, c := range n {
		ch <- prometheus.MustNewConstMetric(clusterPeersDesc, prometheus.GaugeValue, float64(c), st)
	}
	ch <- prometheus.MustNewConstMetric(clusterDriftDesc, prometheus.GaugeValue, float64(len(cc.l.c.Drift())))
}

// clusterHooks adds to the metrics' hooks a nudge to the cluster on every
// transition, so that peers learn of it at once rather than at the next
// sync.
type clusterHooks struct {
	health.Hooks
	s *Server
}

func (h clusterHooks) Transition(k health.Key, up bool, reason string) {
	h.Hooks.Transition(k, up, reason)
	if h.s.cl != nil {
		h.s.cl.c.Poke()
	}
}
