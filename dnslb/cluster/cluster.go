// Package cluster makes several dnslb instances one cluster on
// hashicorp/memberlist: each instance gossips its view of every health
// target and the operators' overrides, watches the others through
// memberlist's failure detector, and computes the shared health of each
// target as the quorum of the live instances' views. It knows nothing of
// DNS: targets are opaque keys, override states opaque bytes.
package cluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Options are what the owner provides beside the config.
type Options struct {
	Logger *slog.Logger // default discards; peers' deaths, returns and drift at Warn/Info

	// Local returns this instance's view of every target it probes. It is
	// called every Sync and after Poke, from one goroutine.
	Local func() []Entry
	// OnHealth is told the shared state of a key whenever it changes.
	// OnOverride is told of an override set on another instance that wins
	// over what was known. Both are called with the cluster's lock held:
	// they must be quick and must not call back into the Cluster.
	OnHealth   func(key string, s Shared)
	OnOverride func(o Override)

	Digest string           // digest of the config and zones; instances that differ are drift
	Sync   time.Duration    // default 250ms: how often changed entries are sent
	Full   time.Duration    // default 10s: how often the whole view is sent again
	Rejoin time.Duration    // default 5s: how often configured peers that are not members are joined
	Now    func() time.Time // default time.Now
	// BindLater: the gossip address may still be held by the process this
	// one replaces (a binary upgrade, which lets the old process go only
	// once the new one serves). New then does not fail when it cannot
	// bind; Run binds once the address is free.
	BindLater bool
	// Tune adjusts memberlist's config (default: its LAN profile), e.g.
	// shorter timeouts in tests.
	Tune func(*MemberlistConfig)
}

// Cluster is this instance's membership. New binds; Run joins and gossips.
type Cluster struct {
	cfg   *Config
	o     Options
	log   *slog.Logger
	boot  int64
	mc    *memberlist.Config
	ml    atomic.Pointer[memberlist.Memberlist] // nil until bound (Options.BindLater)
	bq    *memberlist.TransmitLimitedQueue
	poke  chan struct{}
	kill  atomic.Bool // tests: stop without leaving, as a killed process would
	quiet atomic.Bool // stopped: memberlist's goroutines that outlive Shutdown log no more

	mu      sync.Mutex // guards the fields below
	st      *state
	digest  string
	peers   map[string]*peer
	drift   []string // names of live peers whose digest differs, sorted
	lastAll time.Time
}

type peer struct {
	name    string
	addr    string
	state   string // alive, suspect (alive but silent), dead, left
	digest  string
	heard   time.Time // last view message
	changed time.Time
	leaving bool // said it is stopping: its loss is a leave, not a death
}

// Peer states as reported.
const (
	PeerAlive   = "alive"
	PeerSuspect = "suspect"
	PeerDead    = "dead"
	PeerLeft    = "left"
)

// New binds the gossip address. cfg must have passed Validate.
func New(cfg *Config, o Options) (*Cluster, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sync <= 0 {
		o.Sync = 250 * time.Millisecond
	}
	if o.Full <= 0 {
		o.Full = 10 * time.Second
	}
	if o.Rejoin <= 0 {
		o.Rejoin = 5 * time.Second
	}
	if o.Local == nil {
		o.Local = func() []Entry { return nil }
	}
	c := &Cluster{cfg: cfg, o: o, log: o.Logger, boot: o.Now().UnixNano(), poke: make(chan struct{}, 1),
		digest: o.Digest, peers: map[string]*peer{}}
	c.st = newState(cfg.Name, c.boot, cfg.quorum)
	mc := memberlist.DefaultLANConfig()
	if o.Tune != nil {
		o.Tune(mc)
	}
	mc.Name = cfg.Name
	mc.BindAddr = cfg.bind.Addr().String()
	mc.BindPort = int(cfg.bind.Port())
	mc.AdvertiseAddr = mc.BindAddr
	mc.AdvertisePort = mc.BindPort
	mc.SecretKey = cfg.key
	mc.Delegate = (*delegate)(c)
	mc.Events = (*events)(c)
	mc.Logger = log.New(&logWriter{c.log, &c.quiet}, "", 0)
	c.mc = mc
	c.bq = &memberlist.TransmitLimitedQueue{NumNodes: func() int {
		if ml := c.ml.Load(); ml != nil {
			return ml.NumMembers()
		}
		return 1
	}, RetransmitMult: mc.RetransmitMult}
	ml, err := memberlist.Create(mc)
	switch {
	case err == nil:
		c.ml.Store(ml)
	case o.BindLater:
		c.log.Info("cluster: the gossip address is held, by the process this one replaces; binding it once free", "bind", cfg.bind.String(), "err", err)
	default:
		return nil, fmt.Errorf("cluster: bind %s: %w", cfg.bind, err)
	}
	return c, nil
}

// bind creates the memberlist New could not, retrying until the address
// is free (the replaced process has left) or ctx is done.
func (c *Cluster) bind(ctx context.Context) error {
	warned := time.Now()
	for c.ml.Load() == nil {
		ml, err := memberlist.Create(c.mc)
		if err == nil {
			c.ml.Store(ml)
			c.log.Info("cluster: gossip address bound", "bind", c.cfg.bind.String())
			return nil
		}
		if time.Since(warned) > 10*time.Second {
			c.log.Warn("cluster: the gossip address is still not free", "bind", c.cfg.bind.String(), "err", err)
			warned = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// Close releases the gossip sockets of a Cluster that will not Run.
func (c *Cluster) Close() error {
	var err error
	if ml := c.ml.Load(); ml != nil {
		err = ml.Shutdown()
	}
	// memberlist's suspicion timers outlive Shutdown and still report a
	// peer's death: once closed, events change and log nothing. Set under
	// mu, so that an event under way has ended when Close returns.
	c.mu.Lock()
	c.quiet.Store(true)
	c.mu.Unlock()
	return err
}

// Addr is the bound gossip address (its port when bind said 0); the
// configured one while it is not bound yet.
func (c *Cluster) Addr() string {
	ml := c.ml.Load()
	if ml == nil {
		return c.cfg.bind.String()
	}
	n := ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), fmt.Sprint(n.Port))
}

// Name is this instance's name.
func (c *Cluster) Name() string { return c.cfg.Name }

// Quorum is the configured health quorum.
func (c *Cluster) Quorum() Quorum { return c.cfg.quorum }

// Run joins the configured peers (again, every Rejoin, for those that are
// not members), sends this instance's view every Sync, and leaves the
// cluster when ctx is done.
func (c *Cluster) Run(ctx context.Context) error {
	defer c.Close()
	if err := c.bind(ctx); err != nil {
		return err
	}
	c.join()
	sync := time.NewTicker(c.o.Sync)
	defer sync.Stop()
	rejoin := time.NewTicker(c.o.Rejoin)
	defer rejoin.Stop()
	for {
		select {
		case <-ctx.Done():
			if c.kill.Load() {
				return ctx.Err()
			}
			c.sayLeaving()
			if err := c.ml.Load().Leave(time.Second); err != nil {
				c.log.Debug("cluster leave", "err", err)
			}
			return ctx.Err()
		case <-rejoin.C:
			c.join()
		case <-c.poke:
			c.sync()
		case <-sync.C:
			c.sync()
		}
	}
}

// join contacts the configured peers that are not live members.
// (memberlist's Members hands out nodes it keeps changing: addresses come
// from the membership events instead.)
func (c *Cluster) join() {
	self := c.Addr() // before c.mu: memberlist calls our events holding its lock
	c.mu.Lock()
	members := map[string]bool{self: true}
	for _, p := range c.peers {
		if p.state == PeerAlive || p.state == PeerSuspect {
			members[p.addr] = true
		}
	}
	c.mu.Unlock()
	var todo []string
	for _, p := range c.cfg.peers {
		if !members[p] {
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		return
	}
	if n, err := c.ml.Load().Join(todo); err != nil && n == 0 {
		c.log.Debug("cluster join", "peers", strings.Join(todo, " "), "err", err)
	}
}

// sayLeaving tells the live peers this instance stops on purpose, over
// TCP: memberlist handles its own (dead) messages before user messages that
// come by UDP.
func (c *Cluster) sayLeaving() {
	msg := encodeLeave(c.cfg.Name)
	c.mu.Lock()
	var to []*memberlist.Node
	for _, p := range c.peers {
		if p.state == PeerAlive || p.state == PeerSuspect {
			if ap, err := netip.ParseAddrPort(p.addr); err == nil {
				to = append(to, &memberlist.Node{Name: p.name, Addr: ap.Addr().AsSlice(), Port: ap.Port()})
			}
		}
	}
	c.mu.Unlock()
	for _, n := range to {
		if err := c.ml.Load().SendReliable(n, msg); err != nil {
			c.log.Debug("cluster: telling a peer of the leave", "peer", n.Name, "err", err)
		}
	}
}

// Poke asks for this instance's view to be read and sent now, e.g. after a
// health transition.
func (c *Cluster) Poke() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// maxPacket bounds one view message so that it fits a UDP packet with
// memberlist's framing and encryption.
const maxPacket = 1000

// sync reads the local view, applies it, and sends what changed (all of it
// every Full) to every live peer. An empty message is also a heartbeat.
func (c *Cluster) sync() {
	local := c.o.Local()
	now := c.o.Now()
	c.mu.Lock()
	all := now.Sub(c.lastAll) >= c.o.Full
	if all {
		c.lastAll = now
	}
	send, changed := c.st.setLocal(local, now.UnixNano(), all)
	c.emit(changed)
	c.checkSilentLocked(now)
	var to []memberlist.Address
	for _, p := range c.peers {
		if p.state == PeerAlive || p.state == PeerSuspect {
			to = append(to, memberlist.Address{Addr: p.addr, Name: p.name})
		}
	}
	c.mu.Unlock()
	msgs := c.chunk(send)
	for _, a := range to {
		for _, m := range msgs {
			if err := c.ml.Load().SendToAddress(a, m); err != nil {
				c.log.Debug("cluster send", "peer", a.Name, "err", err)
			}
		}
	}
}

// chunk splits entries into view messages of at most maxPacket bytes; no
// entries still make one (the heartbeat).
func (c *Cluster) chunk(es []Entry) [][]byte {
	var out [][]byte
	for {
		v := viewMsg{Origin: c.cfg.Name, Boot: c.boot}
		size := 32 + len(v.Origin)
		for len(es) > 0 {
			sz := len(es[0].Key) + 24
			if size+sz > maxPacket && len(v.Entries) > 0 {
				break
			}
			size += sz
			v.Entries = append(v.Entries, es[0])
			es = es[1:]
		}
		out = append(out, encodeView(&v))
		if len(es) == 0 {
			return out
		}
	}
}

// emit tells the owner the shared state of keys. The caller holds c.mu.
func (c *Cluster) emit(keys []string) {
	if c.o.OnHealth == nil {
		return
	}
	for _, k := range keys {
		c.o.OnHealth(k, c.st.merged[k])
	}
}

// A member is reported suspect after this many Sync periods without a
// view from it, and never sooner than minSilence (memberlist keeps its own
// suspicion to itself).
const (
	silentAfter = 8
	minSilence  = 2 * time.Second
)

func (c *Cluster) checkSilentLocked(now time.Time) {
	for _, p := range c.peers {
		silent := now.Sub(p.heard) > max(silentAfter*c.o.Sync, minSilence)
		switch {
		case p.state == PeerAlive && silent:
			p.state, p.changed = PeerSuspect, now
			c.log.Warn("cluster peer silent", "peer", p.name, "address", p.addr, "since", p.heard.UTC())
		case p.state == PeerSuspect && !silent:
			p.state, p.changed = PeerAlive, now
		}
	}
}

// SetOverride records an override set on this instance and gossips it.
func (c *Cluster) SetOverride(o Override) {
	o.Origin = c.cfg.Name
	c.mu.Lock()
	kept := c.st.setOverride(o)
	c.mu.Unlock()
	if kept {
		c.bq.QueueBroadcast(&broadcast{o: o, msg: encodeOverrides([]Override{o})})
	}
}

// LoadOverrides records overrides restored from this instance's state file,
// so that they reach the others unless they know of later changes.
func (c *Cluster) LoadOverrides(os []Override) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range os {
		if o.Origin == "" {
			o.Origin = c.cfg.Name
		}
		c.st.setOverride(o)
	}
}

// SetDigest changes this instance's config digest (a reload) and tells the
// others.
func (c *Cluster) SetDigest(d string) {
	c.mu.Lock()
	c.digest = d
	c.updateDriftLocked()
	c.mu.Unlock()
	ml := c.ml.Load()
	if ml == nil {
		return // not bound yet: the meta is read when it is
	}
	if err := ml.UpdateNode(time.Second); err != nil {
		c.log.Warn("cluster: announcing the new config digest", "err", err)
	}
}

// Digest is this instance's config digest, as announced.
func (c *Cluster) Digest() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.digest
}

// broadcast is one override in memberlist's retransmit queue; a later
// override of the same member replaces it.
type broadcast struct {
	o   Override
	msg []byte
}

func (b *broadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*broadcast)
	return ok && o.o.Pool == b.o.Pool && o.o.Addr == b.o.Addr
}
func (b *broadcast) Message() []byte { return b.msg }
func (b *broadcast) Finished()       {}

// delegate is memberlist's Delegate.
type delegate Cluster

// metaVersion prefixes the node meta: the config digest.
const metaVersion = 1

func (d *delegate) NodeMeta(limit int) []byte {
	c := (*Cluster)(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	m := append([]byte{metaVersion}, c.digest...)
	if len(m) > limit {
		m = m[:limit]
	}
	return m
}

func (d *delegate) NotifyMsg(b []byte) {
	c := (*Cluster)(d)
	m, err := decode(b)
	if err != nil {
		c.log.Warn("cluster: message refused", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applyLocked(m)
}

func (c *Cluster) applyLocked(m message) {
	switch {
	case m.leave != "":
		p := c.peers[m.leave]
		if p == nil {
			return
		}
		p.leaving = true
		if p.state == PeerDead && c.o.Now().Sub(p.changed) < 5*time.Second {
			// Its death came first (memberlist's messages overtake ours).
			p.state = PeerLeft
			c.log.Info("cluster peer left", "peer", p.name, "address", p.addr)
		}
	case m.view != nil:
		if p := c.peers[m.view.Origin]; p != nil {
			p.heard = c.o.Now()
		}
		c.emit(c.st.applyView(m.view))
	case m.state != nil:
		for i := range m.state.Views {
			c.emit(c.st.applyView(&m.state.Views[i]))
		}
		c.applyOverridesLocked(m.state.Overrides)
	default:
		c.applyOverridesLocked(m.overrides)
	}
}

func (c *Cluster) applyOverridesLocked(os []Override) {
	for _, o := range os {
		if c.st.setOverride(o) && c.o.OnOverride != nil {
			c.o.OnOverride(o)
		}
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.bq.GetBroadcasts(overhead, limit)
}

// LocalState is this instance's whole state, sent on push/pull: a joining
// or returning instance gets the views and overrides at once.
func (d *delegate) LocalState(join bool) []byte {
	c := (*Cluster)(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	return encodeState(c.st.fullState())
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	c := (*Cluster)(d)
	m, err := decode(buf)
	if err != nil || m.state == nil {
		c.log.Warn("cluster: push/pull state refused", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.applyLocked(m)
}

// events is memberlist's EventDelegate: membership changes.
type events Cluster

func (e *events) NotifyJoin(n *memberlist.Node) {
	c := (*Cluster)(e)
	if n.Name == c.cfg.Name {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.quiet.Load() {
		return
	}
	now := c.o.Now()
	p := c.peers[n.Name]
	if p == nil {
		p = &peer{name: n.Name}
		c.peers[n.Name] = p
		c.log.Info("cluster peer joined", "peer", n.Name, "address", n.Address())
	} else {
		c.log.Info("cluster peer returned", "peer", n.Name, "address", n.Address(), "was", p.state, "for", now.Sub(p.changed).Round(time.Millisecond).String())
	}
	p.addr, p.state, p.changed, p.heard, p.leaving = n.Address(), PeerAlive, now, now, false
	p.digest = metaDigest(n.Meta)
	c.emit(c.st.setLive(n.Name, true))
	c.updateDriftLocked()
}

func (e *events) NotifyLeave(n *memberlist.Node) {
	c := (*Cluster)(e)
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.peers[n.Name]
	if p == nil || c.quiet.Load() {
		return
	}
	now := c.o.Now()
	p.state = PeerDead
	if p.leaving {
		p.state = PeerLeft
		c.log.Info("cluster peer left", "peer", n.Name, "address", n.Address())
	} else {
		c.log.Warn("cluster peer dead", "peer", n.Name, "address", n.Address(), "last_heard", p.heard.UTC())
	}
	p.changed = now
	c.emit(c.st.setLive(n.Name, false))
	c.updateDriftLocked()
}

func (e *events) NotifyUpdate(n *memberlist.Node) {
	c := (*Cluster)(e)
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.peers[n.Name]; p != nil && !c.quiet.Load() {
		p.addr = n.Address()
		p.digest = metaDigest(n.Meta)
		c.updateDriftLocked()
	}
}

func metaDigest(b []byte) string {
	if len(b) < 1 || b[0] != metaVersion {
		return ""
	}
	return string(b[1:])
}

// updateDriftLocked recomputes which live peers run another config and
// warns when that set changes.
func (c *Cluster) updateDriftLocked() {
	var drift []string
	for _, p := range c.peers {
		if (p.state == PeerAlive || p.state == PeerSuspect) && p.digest != c.digest {
			drift = append(drift, p.name)
		}
	}
	sort.Strings(drift)
	if slices.Equal(drift, c.drift) {
		return
	}
	c.drift = drift
	if len(drift) > 0 {
		c.log.Warn("cluster drift: peers run another config or zone data", "peers", strings.Join(drift, " "), "digest", c.digest)
	} else {
		c.log.Info("cluster drift resolved: every live peer runs the same config and zone data")
	}
}

// PeerStatus is one peer as this instance sees it.
type PeerStatus struct {
	Name    string    `json:"name"`
	Address string    `json:"address"`
	State   string    `json:"state"` // alive, suspect, dead, left
	Since   time.Time `json:"since"`
	Drift   bool      `json:"drift"` // runs another config or zone data
}

// Vote is one live instance's view of a target.
type Vote struct {
	Instance string `json:"instance"`
	Up       bool   `json:"up"`
	Probed   bool   `json:"probed"`
}

// Peers lists the peers ever seen, by name.
func (c *Cluster) Peers() []PeerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]PeerStatus, 0, len(c.peers))
	for _, p := range c.peers {
		out = append(out, PeerStatus{Name: p.name, Address: p.addr, State: p.state, Since: p.changed.UTC(),
			Drift: slices.Contains(c.drift, p.name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Drift lists the live peers whose config or zone digest differs.
func (c *Cluster) Drift() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.drift)
}

// Votes returns each live instance's view of key, this one first, and the
// shared result.
func (c *Cluster) Votes(key string) ([]Vote, Shared) {
	c.mu.Lock()
	defer c.mu.Unlock()
	own := c.st.views[c.cfg.Name].entries[key]
	out := []Vote{{Instance: c.cfg.Name, Up: own.Up, Probed: own.Probed}}
	var names []string
	for n := range c.st.live {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if v := c.st.views[n]; v != nil {
			if e, ok := v.entries[key]; ok {
				out = append(out, Vote{Instance: n, Up: e.Up, Probed: e.Probed})
			}
		}
	}
	return out, c.st.compute(key)
}

// Overrides returns every override known, for a status page.
func (c *Cluster) Overrides() []Override {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.overrideList()
}

// logWriter sends memberlist's log lines to slog: its errors and warnings
// as warnings, the rest at debug.
type logWriter struct {
	log   *slog.Logger
	quiet *atomic.Bool
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.quiet.Load() {
		return len(b), nil
	}
	s := strings.TrimSpace(string(b))
	switch {
	case strings.Contains(s, "[ERR]"), strings.Contains(s, "[WARN]"):
		w.log.Warn("memberlist", "msg", s)
	default:
		w.log.Debug("memberlist", "msg", s)
	}
	return len(b), nil
}

var _ io.Writer = (*logWriter)(nil)

// MemberlistConfig is memberlist's config, for Options.Tune.
type MemberlistConfig = memberlist.Config
