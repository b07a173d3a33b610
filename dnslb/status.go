package dnslb

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/dnslb/dnslb/dnslb/cluster"
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
}

type memberStatus struct {
	Address       string    `json:"address"`
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
		if sum > 0 {
			for i := range ps.Members {
				ps.Members[i].ShareLastMin = float64(recent[i]) / float64(sum)
			}
		}
		st.Pools = append(st.Pools, ps)
	}
	return st
}

func (s *Server) handleStatusJSON(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.status())
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
