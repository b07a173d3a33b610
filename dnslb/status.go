package dnslb

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/cluster"
	"github.com/dnslb/dnslb/dnslb/config"
)

// statusJSON is GET /api/v1/status, also what the status page renders.
type statusJSON struct {
	Version string       `json:"version"`
	Config  configStatus `json:"config"`
	Ready   bool         `json:"ready"`
	Now     time.Time    `json:"now"`
	Pools   []poolStatus `json:"pools"`
	// Cluster is this instance's cluster: its peers and drift; nil alone.
	Cluster *clusterStatus `json:"cluster,omitempty"`
}

type configStatus struct {
	File   string    `json:"file"`
	SHA256 string    `json:"sha256"`
	Loaded time.Time `json:"loaded"`
	Zones  []string  `json:"zones"`
}

type poolStatus struct {
	Name        string         `json:"name"`
	Policy      string         `json:"policy"`
	TTL         int            `json:"ttl"`
	Answers     int            `json:"answers"`
	WhenAllDown string         `json:"when_all_down"`
	Healthy     int            `json:"healthy"`
	Members     []memberStatus `json:"members"`
	// Geo pools: each datacenter's eligible members against min_healthy.
	Map         string             `json:"map,omitempty"`
	Datacenters []datacenterStatus `json:"datacenters,omitempty"`
}

type datacenterStatus struct {
	Name       string `json:"name"`
	Type       string `json:"type"` // A or AAAA: each address type fails over on its own
	Eligible   int    `json:"eligible"`
	Members    int    `json:"members"`
	MinHealthy int    `json:"min_healthy"`
}

type memberStatus struct {
	Address       string    `json:"address"`
	Datacenter    string    `json:"datacenter,omitempty"` // geo pools
	Weight        int       `json:"weight"`
	Priority      int       `json:"priority"`
	Check         string    `json:"check,omitempty"`
	Health        string    `json:"health"` // up, down, unchecked
	Eligible      bool      `json:"eligible"`
	Override      string    `json:"override"`
	RTTMillis     float64   `json:"rtt_ms,omitempty"`
	Load          *float64  `json:"load,omitempty"`
	LastError     string    `json:"last_error,omitempty"` // of the latest failed probe, kept after recovery
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	ErrorCurrent  bool      `json:"last_error_current"` // down, or the latest probe failed: the error still applies
	LastChange    time.Time `json:"last_change,omitzero"`
	SinceChange   float64   `json:"since_change_seconds,omitempty"`
	AnswersTotal  uint64    `json:"answers_first_total"`
	ShareLastMin  float64   `json:"share_last_minute"`
	ConsecutiveOK int       `json:"consecutive_ok"`
	ConsecFail    int       `json:"consecutive_fail"`
	// In a cluster, Health is the shared state; LocalHealth is this
	// instance's own probes' and Votes each live instance's view.
	LocalHealth string         `json:"local_health,omitempty"`
	Votes       []cluster.Vote `json:"votes,omitempty"`
}

func (s *Server) status() statusJSON {
	snap := s.snap.Load()
	now := time.Now()
	st := statusJSON{
		Version: s.opts.Version, Ready: s.ready.Load() && s.prober.FirstRoundDone(), Now: now.UTC(),
		Config: configStatus{File: snap.cfg.File, SHA256: snap.cfg.Hash, Loaded: snap.built.UTC()},
		Pools:  []poolStatus{},
	}
	if s.cl != nil {
		st.Cluster = s.cl.status()
	}
	for _, z := range snap.zones.Zones() {
		st.Config.Zones = append(st.Config.Zones, z.Origin)
	}
	shares := s.shares.lastMinute()
	for _, p := range snap.pools {
		ps := poolStatus{Name: p.name, Policy: string(p.cfg.Policy), TTL: int(p.cfg.TTL), Answers: p.cfg.Answers, WhenAllDown: p.cfg.WhenAllDownText()}
		recent := map[int]uint64{}
		dcOf := map[netip.Addr]string{}
		if p.cfg.Policy == config.Geo {
			for _, mc := range p.cfg.Members {
				dcOf[mc.Addr] = mc.Datacenter
			}
		}
		var sum uint64
		for _, f := range p.families {
			if f == nil {
				continue
			}
			for _, m := range f.members {
				ms := memberStatus{
					Address: m.addr.String(), Weight: m.weight, Priority: m.priority, Health: "unchecked",
					Eligible: m.eligible(), Override: overrideNames[m.state.override.Load()],
					AnswersTotal: m.state.served.Load(),
				}
				if dc, ok := dcOf[m.addr]; ok {
					ms.Datacenter = dc
				}
				recent[len(ps.Members)] = shares[m.state]
				sum += shares[m.state]
				if m.target != nil {
					ts := m.target.Status()
					ms.Check = ts.Key.Check
					ms.Health = stateWord(m.target.Up())
					if s.cl != nil {
						ms.LocalHealth = stateWord(ts.Up)
						ms.Votes, _ = s.cl.c.Votes(ts.Key.String())
					}
					ms.RTTMillis = float64(ts.SmoothedRTT.Microseconds()) / 1000
					if ts.HasLoad {
						ms.Load = &ts.Load
					}
					ms.LastError = ts.LastError
					if !ts.LastErrorAt.IsZero() {
						ms.LastErrorAt = ts.LastErrorAt.UTC()
						ms.ErrorCurrent = !ts.Up || ts.ConsecutiveFail > 0
					}
					if !ts.LastChange.IsZero() {
						ms.LastChange = ts.LastChange.UTC()
						ms.SinceChange = now.Sub(ts.LastChange).Round(time.Second).Seconds()
					}
					ms.ConsecutiveOK, ms.ConsecFail = ts.ConsecutiveOK, ts.ConsecutiveFail
				}
				if ms.Eligible {
					ps.Healthy++
				}
				ps.Members = append(ps.Members, ms)
			}
		}
		if p.cfg.Policy == config.Geo {
			ps.Map, ps.Datacenters = p.cfg.Map.Name, geoStatus(p)
		}
		if sum > 0 {
			for i := range ps.Members {
				ps.Members[i].ShareLastMin = float64(recent[i]) / float64(sum)
			}
		}
		st.Pools = append(st.Pools, ps)
	}
	return st
}

// handleStatusJSON serves the status through statusCache: its size grows
// with the members (about 200 bytes each), and rendering it per request let
// a few hundred concurrent clients take gigabytes and the CPU the DNS side
// needs. Compact JSON: pipe it to jq to read it.
func (s *Server) handleStatusJSON(w http.ResponseWriter, _ *http.Request) {
	// A few responses at once: each can be megabytes, and sending them
	// to hundreds of clients takes the CPU the DNS side needs.
	select {
	case s.statusCache.slots <- struct{}{}:
		defer func() { <-s.statusCache.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many status requests at once; retry", http.StatusServiceUnavailable)
		return
	}
	body := s.statusCache.get(s.renderStatus, time.Now, s.generations().Generation())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

func (s *Server) renderStatus() []byte {
	b, err := json.Marshal(s.status())
	if err != nil {
		b = []byte(`{"ok":false,"error":"status not rendered"}`)
	}
	return append(b, '\n')
}

// statusSlots is how many status responses are sent at once.
const statusSlots = 4

// statusSpacing: after a render that other requests waited for (clients
// asking at once), the next one starts no sooner than statusSpacing times
// its duration after it ended, and requests meanwhile get its bytes: under
// load, rendering takes at most a fifth of a CPU. A client asking alone
// always gets a fresh render (what it just changed shows).
const statusSpacing = 4

// statusCache renders the status once for every request that arrives while
// a render is under way (they share its bytes: none is older than the
// request), and spaces renders out while requests pile up.
type statusCache struct {
	slots   chan struct{} // status responses being sent
	mu      sync.Mutex
	done    chan struct{} // closed when the render under way ends; nil when none
	waiters int           // requests waiting for the render under way
	body    []byte
	end     time.Time     // when body's render ended
	state   uint64        // the health and override generation body shows
	took    time.Duration // how long it took
	busy    bool          // requests waited for it
	renders atomic.Uint64 // for tests and the notes
}

// get returns the status for a request. state is the health and override
// generation now: a body rendered before a change is never shared, so that
// what an operator just did shows in the next response even under load.
func (c *statusCache) get(render func() []byte, now func() time.Time, state uint64) []byte {
	c.mu.Lock()
	if done := c.done; done != nil {
		c.waiters++
		c.mu.Unlock()
		<-done
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.body
	}
	if c.busy && c.body != nil && c.state == state && now().Sub(c.end) < statusSpacing*c.took {
		defer c.mu.Unlock()
		return c.body
	}
	done := make(chan struct{})
	c.done, c.waiters = done, 0
	c.mu.Unlock()
	start := now()
	var b []byte
	defer func() { // also when render panics: waiters must not hang
		c.mu.Lock()
		if b != nil {
			c.body, c.end, c.took, c.busy, c.state = b, now(), now().Sub(start), c.waiters > 0, state
		}
		c.done = nil
		close(done)
		c.mu.Unlock()
		c.renders.Add(1)
	}()
	b = render()
	return b
}

// shareSampler remembers every member's answer count every few seconds, so
// that the status page can show each member's share of the last minute
// without the query path keeping time series.
type shareSampler struct {
	mu      sync.Mutex
	samples []shareSample // oldest first, covering about a minute
}

type shareSample struct {
	at     time.Time
	counts map[*memberState]uint64
}

const (
	shareEvery  = 5 * time.Second
	shareWindow = time.Minute
)

func (s *Server) sampleShares(ctx context.Context) {
	t := time.NewTicker(shareEvery)
	defer t.Stop()
	for {
		s.shares.take(s.snap.Load(), time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (ss *shareSampler) take(snap *snapshot, now time.Time) {
	counts := map[*memberState]uint64{}
	for _, p := range snap.pools {
		for _, f := range p.families {
			if f != nil {
				for _, m := range f.members {
					if m.state == nil {
						continue // a broken snapshot (TestPanicAnswersServfail): queries recover, this goroutine would not
					}
					counts[m.state] = m.state.served.Load()
				}
			}
		}
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.samples = append(ss.samples, shareSample{at: now, counts: counts})
	for len(ss.samples) > 2 && now.Sub(ss.samples[1].at) >= shareWindow {
		ss.samples = ss.samples[1:]
	}
}

// lastMinute returns how many answers listed each member first since the
// oldest sample, about a minute ago.
func (ss *shareSampler) lastMinute() map[*memberState]uint64 {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := map[*memberState]uint64{}
	if len(ss.samples) == 0 {
		return out
	}
	for st, was := range ss.samples[0].counts {
		out[st] = st.served.Load() - was
	}
	return out
}

// geoStatus counts each datacenter's members and eligible members per
// address type, as the pool's families see them.
func geoStatus(p *pool) []datacenterStatus {
	var out []datacenterStatus
	for _, f := range p.families {
		if f == nil || f.geo == nil {
			continue
		}
		for d, members := range f.geo.members {
			ds := datacenterStatus{Name: f.geo.names[d], Type: dns.TypeToString[f.qtype], Members: len(members), MinHealthy: f.minHealthy}
			for _, i := range members {
				if f.members[i].eligible() {
					ds.Eligible++
				}
			}
			out = append(out, ds)
		}
	}
	slices.SortStableFunc(out, func(a, b datacenterStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}
