package dnslb

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestPolicyRoundRobin: over N×k answers each eligible member comes first
// exactly k times, every answer is the member list rotated one further than
// the previous one, and answers limits the count.
func TestPolicyRoundRobin(t *testing.T) {
	all4 := []string{"192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"}
	tests := []struct {
		name    string
		answers int
		drained []string
		serve   []string // the eligible members, configured order
	}{
		{"every member", 0, nil, all4},
		{"answers 2", 2, nil, all4},
		{"answers 1", 1, nil, all4},
		{"answers over the count", 9, nil, all4},
		{"one drained", 0, []string{"192.0.2.11"}, []string{"192.0.2.10", "192.0.2.12", "192.0.2.13"}},
		{"one drained, answers 2", 2, []string{"192.0.2.13"}, []string{"192.0.2.10", "192.0.2.11", "192.0.2.12"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newPoolFixture(t, fmt.Sprintf("[[pool]]\nname = \"rr.lb.test.\"\npolicy = \"round_robin\"\nanswers = %d\n%s", tc.answers, memberList(all4...)), nil)
			fx.override("rr.lb.test.", overrideDrain, tc.drained...)
			f := fx.family("rr.lb.test.", dns.TypeA)
			n, k := len(tc.serve), 250
			want := n
			if tc.answers > 0 {
				want = min(tc.answers, n)
			}
			firsts := map[string]int{}
			prev := -1
			for q := range n * k {
				got := pickAddrs(f, fixtureNow)
				if len(got) != want {
					t.Fatalf("query %d: %d members %v, want %d", q, len(got), got, want)
				}
				start := slices.Index(tc.serve, got[0])
				for j, a := range got {
					if a != tc.serve[(start+j)%n] {
						t.Fatalf("query %d: %v is not %v rotated", q, got, tc.serve)
					}
				}
				if prev >= 0 && start != (prev+1)%n {
					t.Fatalf("query %d starts at %s, after an answer starting at %s", q, got[0], tc.serve[prev])
				}
				prev = start
				firsts[got[0]]++
			}
			for _, a := range tc.serve {
				if firsts[a] != k {
					t.Errorf("%s first %d times in %d answers, want exactly %d", a, firsts[a], n*k, k)
				}
			}
		})
	}
}

// TestPolicyWeighted: members come first in proportion to their weights,
// smoothly; the rest of an answer follows in configured order; weight 0
// members serve only when no weighted member is eligible.
func TestPolicyWeighted(t *testing.T) {
	tests := []struct {
		name    string
		members []string // "address weight=N"
		answers int
		drained []string
		share   map[string]float64 // of first places
		never   []string           // never in any answer
	}{
		{name: "3:1", members: []string{"192.0.2.10 weight=3", "192.0.2.11 weight=1"},
			share: map[string]float64{"192.0.2.10": 0.75, "192.0.2.11": 0.25}},
		{name: "5:1:1", members: []string{"192.0.2.10 weight=5", "192.0.2.11 weight=1", "192.0.2.12 weight=1"},
			share: map[string]float64{"192.0.2.10": 5.0 / 7, "192.0.2.11": 1.0 / 7, "192.0.2.12": 1.0 / 7}},
		{name: "10:7:3 answers 2", members: []string{"192.0.2.10 weight=10", "192.0.2.11 weight=7", "192.0.2.12 weight=3"}, answers: 2,
			share: map[string]float64{"192.0.2.10": 0.5, "192.0.2.11": 0.35, "192.0.2.12": 0.15}},
		{name: "default weight is 1", members: []string{"192.0.2.10", "192.0.2.11", "192.0.2.12 weight=2"},
			share: map[string]float64{"192.0.2.10": 0.25, "192.0.2.11": 0.25, "192.0.2.12": 0.5}},
		{name: "weights over the cycle bound", members: []string{"192.0.2.10 weight=1000000", "192.0.2.11 weight=333333"},
			share: map[string]float64{"192.0.2.10": 0.75, "192.0.2.11": 0.25}},
		{name: "weight 0 unused while weighted members serve", members: []string{"192.0.2.10 weight=3", "192.0.2.11 weight=0", "192.0.2.12 weight=1"},
			share: map[string]float64{"192.0.2.10": 0.75, "192.0.2.12": 0.25}, never: []string{"192.0.2.11"}},
		{name: "weight 0 unused while one weighted member serves", members: []string{"192.0.2.10 weight=3", "192.0.2.11 weight=0", "192.0.2.12 weight=1"},
			drained: []string{"192.0.2.10"}, share: map[string]float64{"192.0.2.12": 1}, never: []string{"192.0.2.11", "192.0.2.10"}},
		{name: "weight 0 members share when no weighted member is eligible", members: []string{"192.0.2.10 weight=3", "192.0.2.11 weight=0", "192.0.2.12 weight=0"},
			drained: []string{"192.0.2.10"}, share: map[string]float64{"192.0.2.11": 0.5, "192.0.2.12": 0.5}, never: []string{"192.0.2.10"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newPoolFixture(t, fmt.Sprintf("[[pool]]\nname = \"w.lb.test.\"\npolicy = \"weighted\"\nanswers = %d\n%s", tc.answers, memberList(tc.members...)), nil)
			fx.override("w.lb.test.", overrideDrain, tc.drained...)
			f := fx.family("w.lb.test.", dns.TypeA)
			const total = 10000
			firsts := map[string]int{}
			for range total {
				got := pickAddrs(f, fixtureNow)
				if tc.answers > 0 && len(got) > tc.answers {
					t.Fatalf("%d members %v, answers is %d", len(got), got, tc.answers)
				}
				for _, a := range got {
					if slices.Contains(tc.never, a) {
						t.Fatalf("%s served in %v", a, got)
					}
				}
				firsts[got[0]]++
			}
			for a, want := range tc.share {
				if got := float64(firsts[a]) / total; math.Abs(got-want) > 0.01 {
					t.Errorf("%s first in %.2f%% of answers, want %.2f%% ± 1%%", a, 100*got, 100*want)
				}
			}
		})
	}
}

// TestPolicyWeightedSmooth: the first places of one cycle interleave: in
// every window of consecutive answers each member's count is within 1 of
// its share from the start of a cycle, within 2 anywhere; and of two
// members neither comes first more times in a row than the other's weight
// forces (3:1 is a, a, b, a: three a in a row across cycles, never four).
func TestPolicyWeightedSmooth(t *testing.T) {
	for _, weights := range [][]int{{3, 1}, {5, 1, 1}, {2, 1}, {5, 2}, {4, 1, 1}, {7, 3, 1, 1}, {9, 2, 2}, {1, 1, 1}, {10, 1}} {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			var specs []string
			total := 0
			for k, w := range weights {
				specs = append(specs, fmt.Sprintf("192.0.2.%d weight=%d", 10+k, w))
				total += w
			}
			fx := newPoolFixture(t, "[[pool]]\nname = \"w.lb.test.\"\npolicy = \"weighted\"\n"+memberList(specs...), nil)
			f := fx.family("w.lb.test.", dns.TypeA)
			seq := make([]int, 2*total) // two cycles: windows may wrap
			for q := range seq {
				seq[q] = f.selectMembers(nil, client{prefix: -1}, 0).members[0]
			}
			if !slices.Equal(seq[:total], seq[total:]) {
				t.Fatalf("the sequence %v does not repeat with period %d", seq, total)
			}
			for start := range total {
				count := make([]int, len(weights))
				run, last := 0, -1
				for l := 1; l <= total; l++ {
					m := seq[start+l-1]
					count[m]++
					if m == last {
						run++
					} else {
						run, last = 1, m
					}
					// The shortest longest run: m's weight spread over the others'.
					if others := total - weights[m]; len(weights) == 2 && run > (weights[m]+others-1)/others {
						t.Fatalf("member %d (weight %d) first %d times in a row: %v", m, weights[m], run, seq[:total])
					}
					for k, w := range weights {
						dev := math.Abs(float64(count[k]) - float64(l*w)/float64(total))
						bound := 2.0
						if start == 0 {
							bound = 1
						}
						if dev >= bound {
							t.Fatalf("member %d (weight %d) first %d times in the %d answers from %d, expected %.2f: not smooth: %v", k, w, count[k], l, start, float64(l*w)/float64(total), seq[:total])
						}
					}
				}
			}
		})
	}
	// The example: 3:1 is a, a, b, a, never b twice in a row.
	fx := newPoolFixture(t, "[[pool]]\nname = \"w.lb.test.\"\npolicy = \"weighted\"\n"+memberList("192.0.2.10 weight=3", "192.0.2.11 weight=1"), nil)
	f := fx.family("w.lb.test.", dns.TypeA)
	var firsts []string
	for range 8 {
		firsts = append(firsts, strings.TrimPrefix(pickAddrs(f, fixtureNow)[0], "192.0.2."))
	}
	if got := strings.Join(firsts, ","); got != "10,10,11,10,10,10,11,10" {
		t.Errorf("3:1 firsts %s, want 10,10,11,10,10,10,11,10", got)
	}
}

// TestPolicyFailover: the first priority group with min_healthy eligible
// members serves, rotating within itself; losing members switches to the
// next group, getting them back switches back; when no group has enough,
// every eligible member serves, best priority first.
func TestPolicyFailover(t *testing.T) {
	const pool = "fo.lb.test."
	cfg := func(minHealthy int) string {
		return fmt.Sprintf("[[pool]]\nname = %q\npolicy = \"failover\"\nmin_healthy = %d\n", pool, minHealthy) + memberList(
			"192.0.2.21 priority=2", "192.0.2.10", "192.0.2.11 priority=1", "192.0.2.20 priority=2", "192.0.2.30 priority=3")
	}
	type step struct {
		drain, restore []string
		want           [][]string // the answers of consecutive queries
	}
	g1 := [][]string{{"192.0.2.10", "192.0.2.11"}, {"192.0.2.11", "192.0.2.10"}}
	tests := []struct {
		name       string
		minHealthy int
		steps      []step
	}{
		{"min_healthy 1", 1, []step{
			{want: g1},
			{drain: []string{"192.0.2.10"}, want: [][]string{{"192.0.2.11"}, {"192.0.2.11"}}},
			{drain: []string{"192.0.2.11"}, want: [][]string{{"192.0.2.21", "192.0.2.20"}, {"192.0.2.20", "192.0.2.21"}}},
			{drain: []string{"192.0.2.21", "192.0.2.20"}, want: [][]string{{"192.0.2.30"}}},
			{restore: []string{"192.0.2.20"}, want: [][]string{{"192.0.2.20"}, {"192.0.2.20"}}},
			{restore: []string{"192.0.2.10", "192.0.2.11", "192.0.2.21"}, want: g1},
		}},
		{"min_healthy 2", 2, []step{
			{want: g1},
			{drain: []string{"192.0.2.11"}, want: [][]string{{"192.0.2.21", "192.0.2.20"}, {"192.0.2.20", "192.0.2.21"}}},
			// No group has two: all, best first, each group rotating.
			{drain: []string{"192.0.2.20"}, want: [][]string{{"192.0.2.10", "192.0.2.21", "192.0.2.30"}}},
			{restore: []string{"192.0.2.11"}, want: g1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newPoolFixture(t, cfg(tc.minHealthy), nil)
			f := fx.family(pool, dns.TypeA)
			for s, st := range tc.steps {
				fx.override(pool, overrideDrain, st.drain...)
				fx.override(pool, overrideNone, st.restore...)
				// The group rotates from wherever the counter is: find the
				// phase from the first answer, then expect the cycle.
				first := pickAddrs(f, fixtureNow)
				phase := slices.IndexFunc(st.want, func(w []string) bool { return slices.Equal(w, first) })
				if phase < 0 {
					t.Fatalf("step %d: answer %v, want one of %v", s, first, st.want)
				}
				for q := 1; q < 2*len(st.want); q++ {
					if got, want := pickAddrs(f, fixtureNow), st.want[(phase+q)%len(st.want)]; !slices.Equal(got, want) {
						t.Fatalf("step %d query %d: %v, want %v", s, q, got, want)
					}
				}
			}
		})
	}
}

// TestPolicyFailoverRotatesEachGroup: when no group has min_healthy members,
// each group keeps its place and rotates within itself.
func TestPolicyFailoverRotatesEachGroup(t *testing.T) {
	fx := newPoolFixture(t, "[[pool]]\nname = \"fo.lb.test.\"\npolicy = \"failover\"\nmin_healthy = 3\n"+
		memberList("192.0.2.10", "192.0.2.11", "192.0.2.20 priority=2", "192.0.2.21 priority=2"), nil)
	f := fx.family("fo.lb.test.", dns.TypeA)
	seen := map[string]bool{}
	for range 4 {
		got := pickAddrs(f, fixtureNow)
		if len(got) != 4 || !strings.HasPrefix(got[0], "192.0.2.1") || !strings.HasPrefix(got[1], "192.0.2.1") {
			t.Fatalf("%v: want both priority 1 members first", got)
		}
		seen[strings.Join(got, " ")] = true
	}
	if len(seen) != 2 {
		t.Errorf("answers %v: want the groups rotating", seen)
	}
}

// TestPolicyAll: every eligible member, in configured order, every time;
// answers keeps the first ones.
func TestPolicyAll(t *testing.T) {
	ms := []string{"192.0.2.13", "192.0.2.10", "192.0.2.12", "192.0.2.11"}
	fx := newPoolFixture(t, "[[pool]]\nname = \"all.lb.test.\"\npolicy = \"all\"\n"+memberList(ms...)+
		"[[pool]]\nname = \"two.lb.test.\"\npolicy = \"all\"\nanswers = 2\n"+memberList(ms...), nil)
	all, two := fx.family("all.lb.test.", dns.TypeA), fx.family("two.lb.test.", dns.TypeA)
	for range 5 {
		if got := pickAddrs(all, fixtureNow); !slices.Equal(got, ms) {
			t.Fatalf("%v, want %v", got, ms)
		}
		if got := pickAddrs(two, fixtureNow); !slices.Equal(got, ms[:2]) {
			t.Fatalf("answers 2: %v, want %v", got, ms[:2])
		}
	}
	fx.override("all.lb.test.", overrideDown, "192.0.2.10")
	if got, want := pickAddrs(all, fixtureNow), []string{"192.0.2.13", "192.0.2.12", "192.0.2.11"}; !slices.Equal(got, want) {
		t.Errorf("with one down: %v, want %v", got, want)
	}
}
