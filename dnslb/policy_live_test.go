package dnslb

import (
	"context"
	"fmt"
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

// TestPolicyFastestLeastLoad: members are ordered by their smoothed
// round-trip time, or by the load they report; those without a figure (no
// check, never probed, no load header) come last in configured order.
func TestPolicyFastestLeastLoad(t *testing.T) {
	tests := []struct {
		name     string
		policy   string
		check    string
		figs     map[string]fakeFigures
		unprobed []string
		answers  int
		want     []string
	}{
		{name: "fastest", policy: "fastest", check: "tcp",
			figs: map[string]fakeFigures{"192.0.2.10": {rtt: 30 * time.Millisecond}, "192.0.2.11": {rtt: 10 * time.Millisecond}, "192.0.2.13": {rtt: 20 * time.Millisecond}},
			want: []string{"192.0.2.11", "192.0.2.13", "192.0.2.10", "192.0.2.12"}},
		{name: "fastest, one never probed", policy: "fastest", check: "tcp", unprobed: []string{"192.0.2.10"},
			figs: map[string]fakeFigures{"192.0.2.10": {rtt: time.Millisecond}, "192.0.2.11": {rtt: 10 * time.Millisecond}, "192.0.2.13": {rtt: 20 * time.Millisecond}},
			want: []string{"192.0.2.11", "192.0.2.13", "192.0.2.10", "192.0.2.12"}},
		{name: "fastest, answers 2", policy: "fastest", check: "tcp", answers: 2,
			figs: map[string]fakeFigures{"192.0.2.10": {rtt: 30 * time.Millisecond}, "192.0.2.11": {rtt: 40 * time.Millisecond}, "192.0.2.13": {rtt: 20 * time.Millisecond}},
			want: []string{"192.0.2.13", "192.0.2.10"}},
		{name: "fastest, a slow member down", policy: "fastest", check: "tcp",
			figs: map[string]fakeFigures{"192.0.2.10": {rtt: 30 * time.Millisecond, down: true}, "192.0.2.11": {rtt: 10 * time.Millisecond}, "192.0.2.13": {rtt: 20 * time.Millisecond}},
			want: []string{"192.0.2.11", "192.0.2.13", "192.0.2.12"}},
		{name: "least_load", policy: "least_load", check: "web",
			figs: map[string]fakeFigures{"192.0.2.10": {load: 0.7}, "192.0.2.11": {load: 0.2}, "192.0.2.13": {load: 0.5}},
			want: []string{"192.0.2.11", "192.0.2.13", "192.0.2.10", "192.0.2.12"}},
		{name: "least_load, one reports none", policy: "least_load", check: "web",
			figs: map[string]fakeFigures{"192.0.2.10": {load: 0.7}, "192.0.2.11": {}, "192.0.2.13": {load: 0.5}},
			want: []string{"192.0.2.13", "192.0.2.10", "192.0.2.11", "192.0.2.12"}},
		{name: "least_load ignores round-trip times", policy: "least_load", check: "web",
			figs: map[string]fakeFigures{"192.0.2.10": {load: 3, rtt: time.Millisecond}, "192.0.2.11": {load: 2, rtt: 50 * time.Millisecond}, "192.0.2.13": {load: 1, rtt: 90 * time.Millisecond}},
			want: []string{"192.0.2.13", "192.0.2.11", "192.0.2.10", "192.0.2.12"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			probe := newFakeProbe()
			for a, f := range tc.figs {
				probe.set(a, f)
			}
			fx := newPoolFixture(t, liveChecks+fmt.Sprintf("[[pool]]\nname = \"p.lb.test.\"\npolicy = %q\ncheck = %q\nanswers = %d\n", tc.policy, tc.check, tc.answers)+
				memberList("192.0.2.10", "192.0.2.11", "192.0.2.12 check=none", "192.0.2.13"), probe)
			for _, tg := range fx.prober.Targets() {
				if !slices.Contains(tc.unprobed, tg.Key().Addr.String()) {
					for range 3 { // fall 3: a down member goes down
						fx.prober.CheckNow(context.Background(), tg)
					}
				}
			}
			f := fx.family("p.lb.test.", dns.TypeA)
			for range 3 {
				if got := pickAddrs(f, fixtureNow); !slices.Equal(got, tc.want) {
					t.Fatalf("%v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestPolicyFastestFollowsFigures: the order follows round-trip times that
// change without any health transition, refreshed at most refreshEvery
// after the view was built.
func TestPolicyFastestFollowsFigures(t *testing.T) {
	probe := newFakeProbe()
	probe.set("192.0.2.10", fakeFigures{rtt: 30 * time.Millisecond})
	probe.set("192.0.2.11", fakeFigures{rtt: 10 * time.Millisecond})
	fx := newPoolFixture(t, liveChecks+"[[pool]]\nname = \"p.lb.test.\"\npolicy = \"fastest\"\ncheck = \"tcp\"\n"+memberList("192.0.2.10", "192.0.2.11"), probe)
	fx.probeAll()
	f := fx.family("p.lb.test.", dns.TypeA)
	slowFirst := []string{"192.0.2.11", "192.0.2.10"}
	if got := pickAddrs(f, fixtureNow); !slices.Equal(got, slowFirst) {
		t.Fatalf("%v, want %v", got, slowFirst)
	}
	gen := fx.prober.Generation()
	probe.set("192.0.2.10", fakeFigures{rtt: time.Millisecond})
	for range 10 { // the smoothed RTT follows over a few probes
		fx.probeAll()
	}
	if fx.prober.Generation() != gen {
		t.Fatal("the health generation moved: the test would not exercise the refresh")
	}
	if got := pickAddrs(f, fixtureNow.Add(refreshEvery/2)); !slices.Equal(got, slowFirst) {
		t.Errorf("within refreshEvery: %v, want the view as built (%v)", got, slowFirst)
	}
	if got, want := pickAddrs(f, fixtureNow.Add(refreshEvery)), []string{"192.0.2.10", "192.0.2.11"}; !slices.Equal(got, want) {
		t.Errorf("after refreshEvery: %v, want %v", got, want)
	}
}

// TestPolicyLiveWithoutProber: fastest and least_load order like all when
// no member has a figure.
func TestPolicyLiveWithoutProber(t *testing.T) {
	for _, policy := range []string{"fastest", "least_load"} {
		fx := newPoolFixture(t, "[[pool]]\nname = \"p.lb.test.\"\npolicy = \""+policy+"\"\n"+memberList("192.0.2.12", "192.0.2.10", "192.0.2.11"), nil)
		if got, want := pickAddrs(fx.family("p.lb.test.", dns.TypeA), fixtureNow), []string{"192.0.2.12", "192.0.2.10", "192.0.2.11"}; !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", policy, got, want)
		}
	}
}
