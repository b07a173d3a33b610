package dnslb

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The simulation of TestProportionalSimulation: resolvers with TTL caches in
// front of a least_load pool, each with a population of clients that all
// take the first address of the answer their resolver cached, and backends
// whose reported load is the clients they currently serve (plus one: the
// health check's own connection, so that an idle backend still reports).
type simParams struct {
	backends  int
	resolvers int
	ttl       int     // seconds an answer stays cached
	report    int     // seconds between load reports (the health check's interval)
	duration  int     // seconds simulated
	warmup    int     // seconds before measuring
	external  float64 // load the first backend carries from elsewhere, times the clients' mean per backend
	seed      uint64
}

// simResult is what a run measured after the warm-up, relative to the mean
// load (clients / backends).
type simResult struct {
	peak     float64 // the most loaded backend at any second
	p99      float64 // the most loaded backend: 99th percentile over the seconds
	swing    float64 // the largest change of one backend's load between two load reports
	answers  int
	clients  int
	largest  int // clients of the largest resolver
	timeline []float64
}

// simulate runs p against the pool's family with order: "proportional"
// (least_load as built), "rank" (the best member first in every answer, as
// least_load was) or "rotation" (round_robin, blind to load: the noise floor
// of the resolvers' uneven populations).
func simulate(t *testing.T, p simParams, order string) simResult {
	t.Helper()
	probe := newFakeProbe()
	var specs []string
	for i := range p.backends {
		specs = append(specs, fmt.Sprintf("192.0.2.%d", 10+i))
	}
	fx := newPoolFixture(t, liveChecks+"[[pool]]\nname = \"p.lb.test.\"\npolicy = \"least_load\"\ncheck = \"web\"\n"+memberList(specs...), probe)
	f := fx.family("p.lb.test.", dns.TypeA)
	f.draw.seed(p.seed)
	switch order {
	case "rank":
		f.policy = rankOrder{}
	case "rotation":
		f.policy = roundRobin{}
	}
	index := map[string]int{}
	for i, s := range specs {
		index[s] = i
	}

	rnd := rand.New(rand.NewPCG(p.seed, 1))
	size := make([]int, p.resolvers)   // clients behind each resolver: heavy-tailed, 20 to 500
	cached := make([]int, p.resolvers) // the backend its clients use
	expires := make([]int, p.resolvers)
	load := make([]int, p.backends)
	res := simResult{}
	for r := range size {
		size[r] = min(500, int(20/math.Pow(1-rnd.Float64(), 1/1.5)))
		cached[r] = r % p.backends // a balanced start, refreshes spread over one TTL
		expires[r] = rnd.IntN(p.ttl)
		load[cached[r]] += size[r]
		res.clients += size[r]
		res.largest = max(res.largest, size[r])
	}
	external := int(p.external * float64(res.clients) / float64(p.backends))
	load[0] += external // not clients of ours: it stays
	mean := float64(res.clients+external) / float64(p.backends)
	reported := make([]int, p.backends)
	var peaks []float64
	for sec := range p.duration {
		now := fixtureNow.Add(time.Duration(sec) * time.Second)
		if sec%p.report == 0 {
			if sec >= p.warmup+p.report {
				for i := range load {
					res.swing = max(res.swing, math.Abs(float64(load[i]-reported[i]))/mean)
				}
			}
			copy(reported, load)
			for i, s := range specs {
				probe.set(s, fakeFigures{load: float64(load[i] + 1)})
			}
			fx.probeAll()
		}
		for r := range size {
			if expires[r] > sec {
				continue
			}
			first := index[pickAddrs(f, now)[0]]
			res.answers++
			load[cached[r]] -= size[r]
			load[first] += size[r]
			cached[r] = first
			// A resolver asks again when a client next asks after the
			// answer expired: soon for a big population, later for a
			// small one.
			expires[r] = sec + p.ttl + rnd.IntN(1+p.ttl*20/size[r])
		}
		most := 0
		for _, l := range load {
			most = max(most, l)
		}
		res.timeline = append(res.timeline, float64(most)/mean)
		if sec >= p.warmup {
			peaks = append(peaks, float64(most)/mean)
			res.peak = max(res.peak, float64(most)/mean)
		}
	}
	res.p99 = percentile(peaks, 0.99)
	return res
}

func percentile(xs []float64, q float64) float64 {
	s := append([]float64(nil), xs...)
	for i := 1; i < len(s); i++ { // insertion sort: a few thousand values
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// rankOrder is least_load as it was: every answer lists the least loaded
// member first until the next refresh of the figures.
type rankOrder struct{}

func (rankOrder) live() bool { return true }

func (rankOrder) prepare(f *family, v *view) {
	sortKnownFirst(v, func(i int) (float64, bool) { return f.members[i].target.Load() })
}

func (rankOrder) order(dst []int, _ *family, v *view, _ client) ([]int, uint8) {
	return append(dst, v.sorted...), 0
}

// simSeed draws the resolvers' populations, their refreshes and the
// policy's start. The bounds hold with a margin for every seed from 1 to 20
// (proportional: peak ≤ 1.56, swing ≤ 0.46; rank order: swing ≥ 0.61).
const simSeed = 7

// Bounds the proportional choice must keep and the rank order breaks.
const (
	simPeakBound  = 1.6 // the most loaded backend, times the mean load
	simSwingBound = 0.5 // one backend's change between load reports, times the mean load
)

// TestProportionalSimulation runs the rank order and the proportional choice
// side by side over the same resolver populations, for a few pool shapes,
// and asserts that the proportional choice keeps the most loaded backend
// within simPeakBound of the mean and its swing between load reports within
// simSwingBound, while the rank order breaks at least one of them. Run with
// -v for the figures.
func TestProportionalSimulation(t *testing.T) {
	shapes := []simParams{
		{backends: 4, resolvers: 400, ttl: 30, report: 5},
		{backends: 8, resolvers: 800, ttl: 60, report: 10},
		{backends: 3, resolvers: 200, ttl: 10, report: 2},
		{backends: 4, resolvers: 400, ttl: 30, report: 5, external: 0.5},
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n| backends | resolvers (clients, largest) | TTL | load report | other load | order | peak / mean | p99 / mean | swing / mean |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range shapes {
		p.duration, p.warmup, p.seed = 1200, 3*p.ttl, simSeed
		name := fmt.Sprintf("%db/%dr/ttl%d/report%d/other%.1f", p.backends, p.resolvers, p.ttl, p.report, p.external)
		t.Run(name, func(t *testing.T) {
			rank := simulate(t, p, "rank")
			prop := simulate(t, p, "proportional")
			rot := simulate(t, p, "rotation")
			for _, r := range []struct {
				order string
				res   simResult
			}{{"rank", rank}, {"proportional", prop}, {"rotation", rot}} {
				fmt.Fprintf(&table, "| %d | %d (%d, %d) | %d s | %d s | %.1f | %s | %.2f | %.2f | %.2f |\n",
					p.backends, p.resolvers, r.res.clients, r.res.largest, p.ttl, p.report, p.external, r.order, r.res.peak, r.res.p99, r.res.swing)
			}
			if prop.peak > simPeakBound || prop.swing > simSwingBound {
				t.Errorf("proportional: peak %.2f × mean (want ≤ %.2f), swing %.2f × mean (want ≤ %.2f)", prop.peak, simPeakBound, prop.swing, simSwingBound)
			}
			if rank.peak <= simPeakBound && rank.swing <= simSwingBound {
				t.Errorf("rank order: peak %.2f × mean, swing %.2f × mean: within the bounds, so the simulation shows no herd", rank.peak, rank.swing)
			}
		})
	}
	t.Log(table.String())
}
