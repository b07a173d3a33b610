package dnslb

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const liveChecks = `
[check.tcp]
type = "tcp"
port = 9
interval = "10s"

[check.web]
type = "http"
load_header = "X-Load"
interval = "10s"
`

// TestPolicyFastestLeastLoad: the first member is drawn in proportion to
// weight × 1/(figure + half the mean figure), or with watermarks weight × the share
// left between load_low and load_high; members without a figure (no check,
// never probed, no load header) count as the mean; the rest of each answer
// is the members by figure, rotating from the first. Shares are written
// unnormalized, worked out by hand from the rule.
func TestPolicyFastestLeastLoad(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name     string
		policy   string
		check    string
		extra    string // more [[pool]] keys
		weights  []string
		figs     map[string]fakeFigures
		unprobed []string
		answers  int
		rank     []string           // by figure, unknown last
		want     map[string]float64 // first-member shares
	}{
		{name: "fastest", policy: "fastest", check: "tcp", // mean 20 ms; .12 unchecked counts as 20
			figs: map[string]fakeFigures{"192.0.2.10": {rtt: 30 * ms}, "192.0.2.11": {rtt: 10 * ms}, "192.0.2.13": {rtt: 20 * ms}},
			rank: []string{"192.0.2.11", "192.0.2.13", "192.0.2.10", "192.0.2.12"},
			want: map[string]float64{"192.0.2.11": 1 / 20.0, "192.0.2.13": 1 / 30.0, "192.0.2.10": 1 / 40.0, "192.0.2.12": 1 / 30.0}},
		{name: "fastest, one never probed", policy: "fastest", check: "tcp", unprobed: []string{"192.0.2.10"},
			figs: map[string]fakeFigures{"192.0.2.10": {rtt: ms}, "192.0.2.11": {rtt: 10 * ms}, "192.0.2.13": {rtt: 20 * ms}},
			rank: []string{"192.0.2.11", "192.0.2.13", "192.0.2.10", "192.0.2.12"},
			want: map[string]float64{"192.0.2.11": 1 / 17.5, "192.0.2.13": 1 / 27.5, "192.0.2.10": 1 / 22.5, "192.0.2.12": 1 / 22.5}},
		{name: "fastest, answers 2", policy: "fastest", check: "tcp", answers: 2,
			figs: map[string]fakeFigures{"192.0.2.10": {rtt: 30 * ms}, "192.0.2.11": {rtt: 40 * ms}, "192.0.2.13": {rtt: 20 * ms}},
			rank: []string{"192.0.2.13", "192.0.2.10", "192.0.2.11", "192.0.2.12"},
			want: map[string]float64{"192.0.2.13": 1 / 35.0, "192.0.2.10": 1 / 45.0, "192.0.2.11": 1 / 55.0, "192.0.2.12": 1 / 45.0}},
		{name: "fastest, a slow member down", policy: "fastest", check: "tcp",
			figs: map[string]fakeFigures{"192.0.2.10": {rtt: 30 * ms, down: true}, "192.0.2.11": {rtt: 10 * ms}, "192.0.2.13": {rtt: 20 * ms}},
			rank: []string{"192.0.2.11", "192.0.2.13", "192.0.2.12"}, // the mean of the eligible: 15 ms
			want: map[string]float64{"192.0.2.11": 1 / 17.5, "192.0.2.13": 1 / 27.5, "192.0.2.12": 1 / 22.5}},
		{name: "least_load", policy: "least_load", check: "web",
			figs: map[string]fakeFigures{"192.0.2.10": {load: 7}, "192.0.2.11": {load: 2}, "192.0.2.13": {load: 6}},
			rank: []string{"192.0.2.11", "192.0.2.13", "192.0.2.10", "192.0.2.12"}, // mean 5
			want: map[string]float64{"192.0.2.11": 1 / 4.5, "192.0.2.13": 1 / 8.5, "192.0.2.10": 1 / 9.5, "192.0.2.12": 1 / 7.5}},
		{name: "least_load, one reports none", policy: "least_load", check: "web",
			figs: map[string]fakeFigures{"192.0.2.10": {load: 7}, "192.0.2.11": {}, "192.0.2.13": {load: 5}},
			rank: []string{"192.0.2.13", "192.0.2.10", "192.0.2.11", "192.0.2.12"},
			want: map[string]float64{"192.0.2.13": 1 / 8.0, "192.0.2.10": 1 / 10.0, "192.0.2.11": 1 / 9.0, "192.0.2.12": 1 / 9.0}},
		{name: "least_load ignores round-trip times", policy: "least_load", check: "web",
			figs: map[string]fakeFigures{"192.0.2.10": {load: 3, rtt: ms}, "192.0.2.11": {load: 2, rtt: 50 * ms}, "192.0.2.13": {load: 1, rtt: 90 * ms}},
			rank: []string{"192.0.2.13", "192.0.2.11", "192.0.2.10", "192.0.2.12"},
			want: map[string]float64{"192.0.2.13": 1 / 2.0, "192.0.2.11": 1 / 3.0, "192.0.2.10": 1 / 4.0, "192.0.2.12": 1 / 3.0}},
		{name: "least_load, weights", policy: "least_load", check: "web", weights: []string{"weight=3", "weight=1", "weight=0", "weight=2"},
			figs: map[string]fakeFigures{"192.0.2.10": {load: 4}, "192.0.2.11": {load: 4}, "192.0.2.13": {load: 4}},
			rank: []string{"192.0.2.10", "192.0.2.11", "192.0.2.13", "192.0.2.12"},
			want: map[string]float64{"192.0.2.10": 3, "192.0.2.11": 1, "192.0.2.13": 2, "192.0.2.12": 0}},
		{name: "watermarks: full, between, none", policy: "least_load", check: "web", extra: "load_low = 2\nload_high = 6\n",
			figs: map[string]fakeFigures{"192.0.2.10": {load: 1}, "192.0.2.11": {load: 5}, "192.0.2.13": {load: 9}},
			rank: []string{"192.0.2.10", "192.0.2.11", "192.0.2.13", "192.0.2.12"}, // .12: the mean, 5
			want: map[string]float64{"192.0.2.10": 1, "192.0.2.11": 0.25, "192.0.2.13": 0, "192.0.2.12": 0.25}},
		{name: "watermarks: every member above high", policy: "least_load", check: "web", extra: "load_low = 2\nload_high = 6\n",
			figs: map[string]fakeFigures{"192.0.2.10": {load: 8}, "192.0.2.11": {load: 12}, "192.0.2.13": {load: 10}},
			rank: []string{"192.0.2.10", "192.0.2.13", "192.0.2.11", "192.0.2.12"},
			want: map[string]float64{"192.0.2.10": 1 / 13.0, "192.0.2.13": 1 / 15.0, "192.0.2.11": 1 / 17.0, "192.0.2.12": 1 / 15.0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			probe := newFakeProbe()
			for a, f := range tc.figs {
				probe.set(a, f)
			}
			specs := []string{"192.0.2.10", "192.0.2.11", "192.0.2.12 check=none", "192.0.2.13"}
			for k, w := range tc.weights {
				specs[k] += " " + w
			}
			fx := newPoolFixture(t, liveChecks+fmt.Sprintf("[[pool]]\nname = \"p.lb.test.\"\npolicy = %q\ncheck = %q\nanswers = %d\n%s", tc.policy, tc.check, tc.answers, tc.extra)+
				memberList(specs...), probe)
			for _, tg := range fx.prober.Targets() {
				if !slices.Contains(tc.unprobed, tg.Key().Addr.String()) {
					for range 3 { // fall 3: a down member goes down
						fx.prober.CheckNow(context.Background(), tg)
					}
				}
			}
			f := fx.family("p.lb.test.", dns.TypeA)
			f.draw.seed(1)
			const n = 20000
			firsts := map[string]int{}
			for range n {
				got := pickAddrs(f, fixtureNow)
				firsts[got[0]]++
				want := rotateAddrs(tc.rank, slices.Index(tc.rank, got[0]))
				if tc.answers > 0 {
					want = want[:tc.answers]
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%v, want the members by figure rotating from the first: %v", got, want)
				}
			}
			checkShares(t, firsts, n, tc.want)
		})
	}
}

// TestPolicyFastestFollowsFigures: the shares follow round-trip times that
// change without any health transition, refreshed at most refreshEvery
// after the view was built.
func TestPolicyFastestFollowsFigures(t *testing.T) {
	probe := newFakeProbe()
	probe.set("192.0.2.10", fakeFigures{rtt: 30 * time.Millisecond})
	probe.set("192.0.2.11", fakeFigures{rtt: 10 * time.Millisecond})
	fx := newPoolFixture(t, liveChecks+"[[pool]]\nname = \"p.lb.test.\"\npolicy = \"fastest\"\ncheck = \"tcp\"\n"+memberList("192.0.2.10", "192.0.2.11"), probe)
	fx.probeAll()
	f := fx.family("p.lb.test.", dns.TypeA)
	f.draw.seed(2)
	const n = 10000
	slowFirst := map[string]float64{"192.0.2.10": 1 / 40.0, "192.0.2.11": 1 / 20.0} // mean 20 ms
	checkShares(t, firstCounts(f, n, fixtureNow), n, slowFirst)
	gen := fx.prober.Generation()
	probe.set("192.0.2.10", fakeFigures{rtt: time.Millisecond})
	probe.set("192.0.2.11", fakeFigures{rtt: 50 * time.Millisecond})
	for range 30 { // the smoothed RTT follows over a few probes
		fx.probeAll()
	}
	if fx.prober.Generation() != gen {
		t.Fatal("the health generation moved: the test would not exercise the refresh")
	}
	t.Run("within refreshEvery", func(t *testing.T) {
		checkShares(t, firstCounts(f, n, fixtureNow.Add(refreshEvery/2)), n, slowFirst)
	})
	t.Run("after refreshEvery", func(t *testing.T) { // about 1 and 50 ms, mean 25.5
		checkShares(t, firstCounts(f, n, fixtureNow.Add(refreshEvery)), n, map[string]float64{"192.0.2.10": 1 / 13.75, "192.0.2.11": 1 / 62.75})
	})
}

// TestPolicyLiveWithoutProber: fastest and least_load share equally when no
// member has a figure, the rest of each answer in configured order.
func TestPolicyLiveWithoutProber(t *testing.T) {
	for _, policy := range []string{"fastest", "least_load"} {
		t.Run(policy, func(t *testing.T) {
			fx := newPoolFixture(t, "[[pool]]\nname = \"p.lb.test.\"\npolicy = \""+policy+"\"\n"+memberList("192.0.2.12", "192.0.2.10", "192.0.2.11"), nil)
			f := fx.family("p.lb.test.", dns.TypeA)
			f.draw.seed(3)
			configured := []string{"192.0.2.12", "192.0.2.10", "192.0.2.11"}
			const n = 9000
			firsts := map[string]int{}
			for range n {
				got := pickAddrs(f, fixtureNow)
				if want := rotateAddrs(configured, slices.Index(configured, got[0])); !slices.Equal(got, want) {
					t.Fatalf("%v, want %v", got, want)
				}
				firsts[got[0]]++
			}
			checkShares(t, firsts, n, map[string]float64{"192.0.2.12": 1, "192.0.2.10": 1, "192.0.2.11": 1})
		})
	}
}

// rotateAddrs is list starting at position k, wrapping around.
func rotateAddrs(list []string, k int) []string {
	if k < 0 {
		return nil
	}
	return append(slices.Clone(list[k:]), list[:k]...)
}

// firstCounts counts the first member of n answers at now.
func firstCounts(f *family, n int, now time.Time) map[string]int {
	out := map[string]int{}
	for range n {
		out[pickAddrs(f, now)[0]]++
	}
	return out
}

// checkShares compares how often each member came first in n answers with
// the shares in want (any scale): within 5 standard deviations of a
// binomial draw, so a correct policy fails about once in 3 million runs and
// a share off by a few points fails.
func checkShares(t *testing.T, firsts map[string]int, n int, want map[string]float64) {
	t.Helper()
	total := 0.0
	for _, w := range want {
		total += w
	}
	for a := range firsts {
		if _, ok := want[a]; !ok {
			t.Errorf("%s came first %d times, want never", a, firsts[a])
		}
	}
	for a, w := range want {
		p := w / total
		got := float64(firsts[a]) / float64(n)
		if tol := 5*math.Sqrt(p*(1-p)/float64(n)) + 1e-9; math.Abs(got-p) > tol {
			t.Errorf("%s first in %.4f of %d answers, want %.4f ± %.4f", a, got, n, p, tol)
		}
	}
}
