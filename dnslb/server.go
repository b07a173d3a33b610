// Package dnslb is the server: configuration, listeners, the query handler,
// pools and their policies, metrics and the HTTP side. It composes zones
// (authoritative data) and health (the prober).
package dnslb

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/dnslb/cookie"
	"github.com/dnslb/dnslb/dnslb/update"
	"github.com/dnslb/dnslb/health"
)

// Options are what the caller provides beside the config file.
type Options struct {
	Logger    *slog.Logger         // default: built from [log], writing to LogOutput
	LogOutput io.Writer            // default os.Stderr
	Registry  *prometheus.Registry // where the metrics are registered and /metrics gathers from; default a new one. One server's only: New fails on a registry holding another's
	Version   string               // reported by metrics (dnslb_build_info) and the API
	Revision  string               // VCS revision, reported by dnslb_build_info
	Probe     health.ProbeFunc     // default health.Probe; tests may inject
	CacheSize int                  // answers kept per snapshot (rounded up to a power of two), default 65536; a reload keeps it
	Upgrader  Upgrader             // hands sockets and state over at a binary upgrade; nil = none
	Host      config.Host          // this host's settings over the file's (flags)
	// ProbeSource is the address health probes leave from; default the
	// system's choice (a flag: several instances on one host, or a host
	// with several addresses).
	ProbeSource netip.Addr
	Cluster     ClusterTuning // default memberlist's LAN timing; tests shorten it
	// JournalCompactSize is the size in bytes above which a zone's update
	// journal is folded into one entry; default journal.DefaultCompactSize
	// (1 MiB). Tests lower it.
	JournalCompactSize int64
}

// Server is a running dnslb: its listeners, the current snapshot, the
// prober and the HTTP side.
type Server struct {
	cfgPath   string
	opts      Options
	log       *slog.Logger
	logLevel  *slog.LevelVar
	snap      atomic.Pointer[snapshot]
	clock     coarseClock
	zoneSlots *zoneSlots
	states    *memberStates
	prober    *health.Prober
	cl        *clusterLink // nil when alone
	inherited bool         // started by a binary upgrade, with the previous process's state
	registry  *prometheus.Registry
	metrics   *metrics

	reloading chan struct{} // holds a token while a reload runs: one at a time
	// seen: signed updates already evaluated, so that a replay within the
	// TSIG fudge is answered as before and not applied again. Used under
	// the reloading slot.
	seen      *update.Seen
	upgradeMu sync.Mutex // one upgrade at a time
	// handedOver: a new process serves; this one takes no more updates.
	handedOver atomic.Bool

	statsMu  sync.Mutex
	allStats []*workerStats
	tcpStats *workerStats

	udpConns    []*udpSocket
	tcpLns      []*net.TCPListener
	httpLn      net.Listener
	httpLimiter atomic.Pointer[connLimiter]
	statusCache statusCache
	ready       atomic.Bool // listeners serving
	// handingOver: a new process has taken the sockets over; stop reading
	// them without shutting them down, and let TCP clients finish.
	handingOver atomic.Bool
	tcpSlots    chan struct{}
	xfrSlots    chan struct{} // transfers out at once
	xfr         xfrZones
	tcpBufs     sync.Pool // *tcpBuffers, taken while a connection has a query to answer
	shares      shareSampler
	// cookieSecret makes DNS cookies when no cookie_secret_file is set:
	// random, kept across reloads so that cookies stay valid.
	cookieSecret cookie.Secrets
}

// New reads the config, restores overrides from the state file, builds the
// first snapshot and binds every listener. Nothing is served until Run.
func New(cfgPath string, o Options) (*Server, error) {
	cfg, err := config.LoadFor(cfgPath, o.Host)
	if err != nil {
		return nil, err
	}
	if o.LogOutput == nil {
		o.LogOutput = os.Stderr
	}
	if o.CacheSize == 0 {
		o.CacheSize = 1 << 16
	}
	s := &Server{cfgPath: cfgPath, opts: o, zoneSlots: newZoneSlots(), states: newMemberStates(), logLevel: new(slog.LevelVar), reloading: make(chan struct{}, 1), seen: update.NewSeen(maxSeenUpdates)}
	s.statusCache.slots = make(chan struct{}, statusSlots)
	if _, err := crand.Read(s.cookieSecret.Current[:]); err != nil {
		return nil, fmt.Errorf("cookie secret: %w", err)
	}
	s.log = o.Logger
	if s.log == nil {
		s.log = newLogger(cfg.Log, o.LogOutput, s.logLevel)
	}
	s.logLevel.Set(cfg.Log.Level)
	s.registry = o.Registry
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	if s.metrics, err = newMetrics(s); err != nil {
		return nil, err
	}
	if o.ProbeSource.IsValid() && o.Probe == nil {
		s.opts.Probe = health.ProbeFrom(o.ProbeSource)
	}
	var hooks health.Hooks = s.metrics
	if cfg.Cluster != nil {
		hooks = clusterHooks{Hooks: s.metrics, s: s}
	}
	s.prober = health.NewProber(health.Options{
		Logger: s.log, Concurrency: cfg.Server.HealthConcurrency, Hooks: hooks, Probe: s.opts.Probe,
		Shared: cfg.Cluster != nil,
	})
	problems, err := s.states.load(cfg.Server.StateFile, time.Now())
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		s.log.Error("STATE FILE DAMAGED: starting without what could not be read; re-apply lost overrides", "file", cfg.Server.StateFile, "problem", p)
	}
	if err := s.restoreHandover(); err != nil {
		return nil, err
	}
	s.clock.set()
	ctx, cancel := loadContext(context.Background(), cfg)
	defer cancel()
	snap, err := buildSnapshotContext(ctx, cfg, s.states, s.prober, s.generations(), o.CacheSize)
	if err != nil {
		return nil, timeoutError(ctx, cfg, err)
	}
	if snap.signers, err = loadSigners(cfg, nil, false); err != nil {
		return nil, err
	}
	s.publish(snap)
	s.pruneStates(snap)
	s.tcpSlots = make(chan struct{}, cfg.Server.TCPMaxConnections)
	s.xfrSlots = make(chan struct{}, maxTransfers)
	s.xfr.m = map[string]*xfrZone{}
	s.tcpStats = s.newStats()
	s.tcpBufs.New = s.newTCPBuffers
	if cfg.Cluster != nil {
		if s.cl, err = newClusterLink(s, cfg); err != nil {
			return nil, err
		}
	}
	if err := s.bind(cfg); err != nil {
		if s.cl != nil {
			s.cl.c.Close()
		}
		s.closeListeners()
		for _, c := range s.udpConns {
			c.release()
		}
		return nil, err
	}
	return s, nil
}

func (s *Server) publish(snap *snapshot) {
	snap.cookies = snap.cfg.Server.CookieSecrets
	snap.requireCookie = snap.cfg.Server.RequireCookie
	if snap.cookies == nil {
		snap.cookies = &s.cookieSecret
	}
	for z, zs := range snap.synth {
		zs.slot = s.zoneSlots.slot(z.Origin)
		zs.signed = zs.signed || snap.signers[z.Origin] != nil
	}
	if snap.cfg.Log.Queries {
		snap.queryLog = &queryLog{logger: s.log, sample: snap.cfg.Log.QuerySample}
	}
	s.snap.Store(snap)
	s.metrics.configLoaded(snap.cfg)
	for _, w := range snap.warnings {
		s.log.Warn(w)
	}
}

// pruneStates forgets the state of members snap no longer has; an
// override of a pool or member removed from the config is dropped, saying so.
func (s *Server) pruneStates(snap *snapshot) {
	keep := map[memberKey]bool{}
	for _, p := range snap.pools {
		for _, f := range p.families {
			if f != nil {
				for _, m := range f.members {
					keep[memberKey{p.name, m.addr}] = true
				}
			}
		}
	}
	dropped, err := s.states.prune(keep)
	for _, k := range dropped {
		s.log.Warn("override dropped: the member is no longer in the config", "pool", k.pool, "member", k.addr.String())
	}
	if err != nil {
		s.log.Error("state file not rewritten after dropping overrides; they return at the next restart unless an override change rewrites it", "err", err)
	}
}

func newLogger(c config.Log, w io.Writer, level *slog.LevelVar) *slog.Logger {
	o := &slog.HandlerOptions{Level: level}
	if c.JSON {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// generations is the health source of pools: it moves when a health state
// or an operator override changes.
type generations struct {
	prober *health.Prober
	states *memberStates
}

func (g generations) Generation() uint64 { return g.prober.Generation() + g.states.gen.Load() }

func (s *Server) generations() generations { return generations{s.prober, s.states} }

func (s *Server) newStats() *workerStats {
	st := new(workerStats)
	s.statsMu.Lock()
	s.allStats = append(s.allStats, st)
	s.statsMu.Unlock()
	return st
}

// bind opens UDP sockets (several per address with SO_REUSEPORT, so that
// each core reads its own) and a TCP listener on every listen address, and
// the HTTP listener.
func (s *Server) bind(cfg *config.Config) error {
	workers := cfg.Server.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	for _, ap := range cfg.Server.Listen {
		var err error
		// Port 0 (tests): UDP picks the port and TCP must get the same;
		// when a TCP socket already holds it, try another.
		for attempt := 0; attempt < 20; attempt++ {
			var socks []*udpSocket
			var ln *net.TCPListener
			socks, ln, err = s.openAddr(ap.String(), ap, workers)
			if err == nil {
				s.udpConns = append(s.udpConns, socks...)
				s.tcpLns = append(s.tcpLns, ln)
				break
			}
			if ap.Port() != 0 {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	if cfg.Server.HTTP.IsValid() {
		ln, err := s.listenHTTP(cfg.Server.HTTP.String())
		if err != nil {
			return fmt.Errorf("listen http %s: %w", cfg.Server.HTTP, err)
		}
		s.httpLn = ln
	}
	return nil
}

// listenAddr opens workers UDP sockets and one TCP listener on ap.
func listenAddr(ap netip.AddrPort, workers int) ([]*udpSocket, *net.TCPListener, error) {
	var socks []*udpSocket
	fail := func(err error) ([]*udpSocket, *net.TCPListener, error) {
		for _, c := range socks {
			c.Close()
			c.release()
		}
		return nil, nil, err
	}
	first, err := openUDP(ap)
	if err != nil {
		return fail(fmt.Errorf("listen udp %s: %w", ap, err))
	}
	socks = append(socks, first)
	ap = first.LocalAddrPort()
	for range workers - 1 {
		c, err := openUDP(ap)
		if err != nil {
			return fail(fmt.Errorf("listen udp %s: %w", ap, err))
		}
		socks = append(socks, c)
	}
	ln, err := listenTCP(ap)
	if err != nil {
		return fail(fmt.Errorf("listen tcp %s: %w", ap, err))
	}
	return socks, ln, nil
}

func (s *Server) closeListeners() {
	for _, c := range s.udpConns {
		if !s.handingOver.Load() { // the new process reads these sockets now
			c.Close()
		}
	}
	for _, l := range s.tcpLns {
		l.Close()
	}
	if s.httpLn != nil {
		s.httpLn.Close()
	}
}

// DNSAddrs returns the bound DNS addresses (UDP and TCP share each).
func (s *Server) DNSAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, l := range s.tcpLns {
		out = append(out, l.Addr().(*net.TCPAddr).AddrPort())
	}
	return out
}

// HTTPAddr returns the bound HTTP address, or "" when it is off.
func (s *Server) HTTPAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// Run serves until ctx is done, then stops every listener and goroutine it
// started and returns.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	goFn := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	goFn(func() { s.clock.run(ctx) })
	goFn(func() { s.sampleShares(ctx) })
	goFn(func() { s.runSerials(ctx) })
	goFn(func() {
		if err := s.prober.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("health prober stopped", "err", err)
		}
	})
	if s.cl != nil {
		goFn(func() { s.cl.run(ctx) })
	}
	for _, c := range s.udpConns {
		goFn(func() { s.serveUDP(ctx, c) })
	}
	for _, l := range s.tcpLns {
		goFn(func() { s.serveTCP(ctx, l) })
	}
	httpDone := make(chan error, 1)
	if s.httpLn != nil {
		goFn(func() { httpDone <- s.serveHTTP(ctx, s.httpLn) })
	}
	s.ready.Store(true)
	s.log.Info("dnslb serving", "dns", fmt.Sprint(s.DNSAddrs()), "http", s.HTTPAddr(), "config", s.cfgPath, "version", s.opts.Version)
	s.signalReady()
	select {
	case <-ctx.Done():
	case <-s.exiting():
		s.handingOver.Store(true)
	case err := <-httpDone:
		if err != nil {
			s.log.Error("http server failed", "err", err)
		}
	}
	s.ready.Store(false)
	s.closeListeners()
	cancel()
	wg.Wait()
	s.log.Info("dnslb stopped")
	return nil
}

// Reload re-reads the config and zone files and, when they are valid,
// swaps in a new snapshot. On any error the running config keeps serving.
// Health state and overrides of unchanged members carry over.
func (s *Server) Reload() error { return s.ReloadContext(context.Background()) }

// ReloadContext is Reload for a caller that stops waiting when ctx is done
// (an API client that went away). A reload already running is waited for
// at most the running config's reload_timeout; the reload itself is bounded
// by reload_timeout and not by ctx, so that a client hanging up does not
// leave the config half-read. Nothing it starts outlives the call.
func (s *Server) ReloadContext(ctx context.Context) error {
	limit := reloadTimeout(s.snap.Load().cfg)
	wait := time.NewTimer(limit)
	defer wait.Stop()
	select {
	case s.reloading <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("reload not started: %w", ctx.Err())
	case <-wait.C:
		err := fmt.Errorf("reload not started: another reload has run for more than reload_timeout (%v)", limit)
		s.metrics.reloaded(err)
		return err
	}
	defer func() { <-s.reloading }()
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	defer cancel()
	err := s.reload(lctx)
	if err != nil && errors.Is(lctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%s: reload did not finish within reload_timeout (%v): %w", s.cfgPath, limit, err)
	}
	s.metrics.reloaded(err)
	if err != nil {
		s.log.Error("reload refused; the running config keeps serving", "config", s.cfgPath, "err", err)
		return err
	}
	return nil
}

func (s *Server) reload(ctx context.Context) error {
	prev := s.snap.Load()
	old := prev.cfg
	// Unchanged maps are kept: a database is read again only when it changed.
	cfg, err := config.Reload(s.cfgPath, s.opts.Host, old)
	if err != nil {
		return err
	}
	signers, err := loadSigners(cfg, prev.signers, false)
	if err != nil {
		return err
	}
	if (old.Cluster == nil) != (cfg.Cluster == nil) {
		return fmt.Errorf("%s: [cluster] can be added or removed only at restart", s.cfgPath)
	}
	snap, err := buildSnapshotContext(ctx, cfg, s.states, s.prober, s.generations(), s.opts.CacheSize)
	if err != nil {
		return err
	}
	snap.signers = signers
	s.logLevel.Set(cfg.Log.Level)
	s.publish(snap)
	s.pruneStates(snap)
	if o, n := old.Server, cfg.Server; !slices.Equal(o.Listen, n.Listen) || o.HTTP != n.HTTP || o.StateFile != n.StateFile || o.Workers != n.Workers || o.TCPMaxConnections != n.TCPMaxConnections || o.HealthConcurrency != n.HealthConcurrency ||
		o.HTTPMaxConnections != n.HTTPMaxConnections || o.HTTPIdleTimeout != n.HTTPIdleTimeout || o.HTTPHeaderTimeout != n.HTTPHeaderTimeout {
		s.log.Warn("listen, http, http_max_connections, http_idle_timeout, http_header_timeout, state_file, workers, tcp_max_connections and health_concurrency change only at restart or upgrade (dnslb ctl upgrade)", "config", s.cfgPath)
	}
	if s.cl != nil {
		if o, n := old.Cluster, cfg.Cluster; o.Name != n.Name || o.Bind != n.Bind || o.KeyFile != n.KeyFile || o.HealthQuorum != n.HealthQuorum || fmt.Sprint(o.Peers) != fmt.Sprint(n.Peers) {
			s.log.Warn("[cluster] settings change only at restart", "config", s.cfgPath)
		}
		s.cl.reloaded(cfg, snap)
	}
	s.log.Info("config reloaded", "config", s.cfgPath, "sha256", cfg.Hash, "zones", len(cfg.Zones), "pools", len(cfg.Pools))
	return nil
}
