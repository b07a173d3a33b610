package dnslb

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/health"
)

// TestPoolWhenAllDown: with no eligible member a pool serves every member
// ("all", the default), none, or another pool's eligible members.
func TestPoolWhenAllDown(t *testing.T) {
	pools := `
[[pool]]
name = "open.lb.test."
policy = "round_robin"
answers = 2
members = [{ address = "192.0.2.10" }, { address = "192.0.2.11" }, { address = "192.0.2.12" }]

[[pool]]
name = "none.lb.test."
when_all_down = "none"
members = [{ address = "192.0.2.20" }, { address = "2001:db8::20" }]

[[pool]]
name = "fb.lb.test."
when_all_down = "pool:backup.lb.test."
members = [{ address = "192.0.2.30" }, { address = "2001:db8::30" }]

[[pool]]
name = "backup.lb.test."
policy = "all"
when_all_down = "pool:last.lb.test."
members = [{ address = "192.0.2.40" }, { address = "192.0.2.41" }]

[[pool]]
name = "last.lb.test."
when_all_down = "none"
members = [{ address = "192.0.2.50" }]
`
	type want struct {
		pool  string // the pool whose members are served
		addrs []string
	}
	tests := []struct {
		name  string
		down  map[string][]string // pool → members overridden down
		pool  string
		qtype uint16
		want  want
	}{
		{"all: every member, the policy's order and count", map[string][]string{"open.lb.test.": {"192.0.2.10", "192.0.2.11", "192.0.2.12"}},
			"open.lb.test.", dns.TypeA, want{"open.lb.test.", []string{"192.0.2.10", "192.0.2.11"}}},
		{"none: nothing", map[string][]string{"none.lb.test.": {"192.0.2.20"}}, "none.lb.test.", dns.TypeA, want{"none.lb.test.", nil}},
		{"none: the other family still serves", map[string][]string{"none.lb.test.": {"192.0.2.20"}}, "none.lb.test.", dns.TypeAAAA, want{"none.lb.test.", []string{"2001:db8::20"}}},
		{"pool: the other pool's members", map[string][]string{"fb.lb.test.": {"192.0.2.30"}}, "fb.lb.test.", dns.TypeA, want{"backup.lb.test.", []string{"192.0.2.40", "192.0.2.41"}}},
		{"pool: only its eligible members", map[string][]string{"fb.lb.test.": {"192.0.2.30"}, "backup.lb.test.": {"192.0.2.40"}}, "fb.lb.test.", dns.TypeA, want{"backup.lb.test.", []string{"192.0.2.41"}}},
		{"pool: a chain of fallbacks", map[string][]string{"fb.lb.test.": {"192.0.2.30"}, "backup.lb.test.": {"192.0.2.40", "192.0.2.41"}}, "fb.lb.test.", dns.TypeA, want{"last.lb.test.", []string{"192.0.2.50"}}},
		{"pool: the chain ends in none", map[string][]string{"fb.lb.test.": {"192.0.2.30"}, "backup.lb.test.": {"192.0.2.40", "192.0.2.41"}, "last.lb.test.": {"192.0.2.50"}}, "fb.lb.test.", dns.TypeA, want{"last.lb.test.", nil}},
		{"pool: the fallback has no member of the type", map[string][]string{"fb.lb.test.": {"2001:db8::30"}}, "fb.lb.test.", dns.TypeAAAA, want{"fb.lb.test.", nil}},
		{"pool: unused while one member is up", map[string][]string{"backup.lb.test.": {"192.0.2.40"}}, "fb.lb.test.", dns.TypeA, want{"fb.lb.test.", []string{"192.0.2.30"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newPoolFixture(t, pools, nil)
			for p, as := range tc.down {
				fx.override(p, overrideDown, as...)
			}
			sel := fx.family(tc.pool, tc.qtype).selectMembers(nil, client{prefix: -1}, fixtureNow.UnixNano())
			if got := sel.fam.pool.name; got != tc.want.pool {
				t.Errorf("served from %s, want %s", got, tc.want.pool)
			}
			if got := selAddrs(sel); !slices.Equal(got, tc.want.addrs) {
				t.Errorf("%v, want %v", got, tc.want.addrs)
			}
		})
	}
}

// ttlChecks keep fast_interval = interval, so that each step of a count
// toward a change is one interval (TestPoolAdaptiveTTLFast has the default).
const ttlChecks = `
[check.slow]
type = "tcp"
port = 9
interval = "20s"
fast_interval = "20s"
rise = 2
fall = 3

[check.quick]
type = "tcp"
port = 9
interval = "4s"
fast_interval = "4s"
rise = 2
fall = 3

[check.slowdown]
type = "tcp"
port = 9
interval = "20s"
fast_interval = "20s"
rise = 2
initial = "down"

[check.quickdown]
type = "tcp"
port = 9
interval = "4s"
fast_interval = "4s"
rise = 2
initial = "down"
`

// TestPoolAdaptiveTTLFast: with the default fast_interval (half the
// interval), the steps after the first probe are shorter: an up member of
// fall 3 probed every 4 s could go down in 2 × 2 s.
func TestPoolAdaptiveTTLFast(t *testing.T) {
	checks := "[check.fast]\ntype = \"tcp\"\nport = 9\ninterval = \"4s\"\nfall = 3\n"
	fx := newPoolFixture(t, checks+"[[pool]]\nname = \"p.lb.test.\"\nttl = 30\ncheck = \"fast\"\n"+memberList("192.0.2.10"), newFakeProbe())
	sel := fx.family("p.lb.test.", dns.TypeA).selectMembers(nil, client{prefix: -1}, fixtureNow.UnixNano())
	if sel.ttl != 4 {
		t.Errorf("ttl %d, want 4 (the first probe now, then two more 2 s apart)", sel.ttl)
	}
}

// TestPoolAdaptiveTTL: an answer's TTL is the pool's ttl, cut to when its
// health facts could next change (a listed member going down; a member left
// out because it is down coming back only with fast_return or when every
// member is down; a pool fallen back from recovering), never below min_ttl. Before any probe, ChangeAt is the
// first probe (due now) plus one interval per further result needed: an up
// member with fall 3 could go down in 2 intervals, a down one with rise 2
// come back in 1.
func TestPoolAdaptiveTTL(t *testing.T) {
	tests := []struct {
		name  string
		pool  string // [[pool]] keys, the members last
		after time.Duration
		setup func(fx *poolFixture)
		want  uint32
	}{
		{name: "no check: the ttl", pool: "ttl = 30\n" + memberList("192.0.2.10"), want: 30},
		{name: "far change: the ttl", pool: "ttl = 30\ncheck = \"slow\"\n" + memberList("192.0.2.10"), want: 30},
		{name: "listed member could go down in 8s", pool: "ttl = 30\ncheck = \"slow\"\n" + memberList("192.0.2.10", "192.0.2.11 check=quick"), want: 8},
		{name: "min_ttl floors it", pool: "ttl = 30\nmin_ttl = 15\ncheck = \"slow\"\n" + memberList("192.0.2.10", "192.0.2.11 check=quick"), want: 15},
		{name: "a short ttl stays", pool: "ttl = 5\ncheck = \"slow\"\n" + memberList("192.0.2.10", "192.0.2.11 check=quick"), want: 5},
		{name: "time passes", pool: "ttl = 30\ncheck = \"slow\"\n" + memberList("192.0.2.10", "192.0.2.11 check=quick"), after: 3 * time.Second, want: 5},
		{name: "whole seconds, rounded down", pool: "ttl = 30\ncheck = \"slow\"\n" + memberList("192.0.2.10", "192.0.2.11 check=quick"), after: 2500 * time.Millisecond, want: 5},
		{name: "change overdue: min_ttl", pool: "ttl = 30\nmin_ttl = 2\ncheck = \"slow\"\n" + memberList("192.0.2.10"), after: time.Minute, want: 2},
		{name: "change overdue, default min_ttl 1", pool: "ttl = 30\ncheck = \"slow\"\n" + memberList("192.0.2.10"), after: time.Minute, want: 1},
		{name: "a down member coming back waits for the ttl", pool: "ttl = 30\ncheck = \"slow\"\n" + memberList("192.0.2.10", "192.0.2.11 check=quickdown"), want: 30},
		{name: "fast_return: a down member could come back in 4s", pool: "ttl = 30\nfast_return = true\ncheck = \"slow\"\n" + memberList("192.0.2.10", "192.0.2.11 check=quickdown"), want: 4},
		{name: "eligible but not listed: no bound", pool: "ttl = 30\npolicy = \"all\"\nanswers = 1\ncheck = \"slow\"\n" + memberList("192.0.2.10", "192.0.2.11 check=quick"), want: 30},
		{name: "an override decides: no bound", pool: "ttl = 30\ncheck = \"quick\"\n" + memberList("192.0.2.10"),
			setup: func(fx *poolFixture) { fx.override("p.lb.test.", overrideUp, "192.0.2.10") }, want: 30},
		{name: "a drained member: no bound", pool: "ttl = 30\ncheck = \"slow\"\n" + memberList("192.0.2.10", "192.0.2.11 check=quickdown"),
			setup: func(fx *poolFixture) { fx.override("p.lb.test.", overrideDrain, "192.0.2.11") }, want: 30},
		{name: "all down, one unlisted could come back in 4s", pool: "ttl = 30\npolicy = \"all\"\nanswers = 1\ncheck = \"slowdown\"\n" + memberList("192.0.2.10", "192.0.2.11 check=quickdown"), want: 4},
		{name: "fallen back: the first pool could come back in 4s", pool: "ttl = 30\ncheck = \"quickdown\"\nwhen_all_down = \"pool:q.lb.test.\"\n" + memberList("192.0.2.10") +
			"[[pool]]\nname = \"q.lb.test.\"\nttl = 60\ncheck = \"slow\"\n" + memberList("192.0.2.20"), want: 4},
		{name: "fallen back: the other pool's ttl", pool: "ttl = 30\ncheck = \"slowdown\"\nwhen_all_down = \"pool:q.lb.test.\"\n" + memberList("192.0.2.10") +
			"[[pool]]\nname = \"q.lb.test.\"\nttl = 10\n" + memberList("192.0.2.20"), want: 10},
		// In a cluster the shared state can change when a peer's view does.
		{name: "a cluster peer's view could change in 6s", pool: "ttl = 30\ncheck = \"slow\"\n" + memberList("192.0.2.10"),
			setup: func(fx *poolFixture) {
				fx.prober.SetShared(fx.prober.Targets()[0], true, fixtureNow.Add(6*time.Second).UnixNano())
			}, want: 6},
		{name: "peers' later change: own schedule", pool: "ttl = 30\ncheck = \"quick\"\n" + memberList("192.0.2.10"),
			setup: func(fx *poolFixture) {
				fx.prober.SetShared(fx.prober.Targets()[0], true, fixtureNow.Add(20*time.Second).UnixNano())
			}, want: 8},
		// ChangeAt follows probes: one failure of three brings the fall
		// one interval nearer.
		{name: "a failed probe brings the change nearer", pool: "ttl = 30\ncheck = \"quick\"\n" + memberList("192.0.2.10"),
			setup: func(fx *poolFixture) {
				fx.probe.set("192.0.2.10", fakeFigures{down: true})
				fx.probeAll()
			}, want: 4},
		{name: "two failed probes", pool: "ttl = 30\ncheck = \"slow\"\n" + memberList("192.0.2.10"),
			setup: func(fx *poolFixture) {
				fx.probe.set("192.0.2.10", fakeFigures{down: true})
				fx.probeAll()
				fx.probeAll()
			}, want: 1}, // the deciding probe is due now: min_ttl
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newPoolFixture(t, ttlChecks+"[[pool]]\nname = \"p.lb.test.\"\n"+tc.pool, newFakeProbe())
			if tc.setup != nil {
				tc.setup(fx)
			}
			sel := fx.family("p.lb.test.", dns.TypeA).selectMembers(nil, client{prefix: -1}, fixtureNow.Add(tc.after).UnixNano())
			if len(sel.members) == 0 {
				t.Fatal("no member selected")
			}
			if sel.ttl != tc.want {
				t.Errorf("ttl %d, want %d", sel.ttl, tc.want)
			}
		})
	}
}

// TestPoolTTLMemberStates: the TTLs a pool serves while a member is up,
// counting failures, dead for a long time, coming back and flapping. A
// listed member bounds the TTL by its possible withdrawal; a dead one does
// not, unless fast_return. Both members: interval = fast_interval = 4 s,
// fall 3, rise 2, probed off schedule (so the next probe stays due now):
// an up member could go down in (fall − failures − 1) × 4 s.
func TestPoolTTLMemberStates(t *testing.T) {
	steps := []struct {
		name       string
		results    []bool // probe results of 192.0.2.11 before the query
		listed     int
		want, fast uint32 // TTL by default, with fast_return
	}{
		{name: "all up", listed: 2, want: 8, fast: 8},
		{name: "one failure", results: []bool{false}, listed: 2, want: 4, fast: 4},
		{name: "two failures: the deciding probe is due", results: []bool{false}, listed: 2, want: 1, fast: 1},
		{name: "down", results: []bool{false}, listed: 1, want: 8, fast: 4},
		{name: "dead for a long time", results: slices.Repeat([]bool{false}, 500), listed: 1, want: 8, fast: 4},
		{name: "one success while down", results: []bool{true}, listed: 1, want: 8, fast: 1},
		{name: "back up", results: []bool{true}, listed: 2, want: 8, fast: 8},
		{name: "flap: a failure", results: []bool{false}, listed: 2, want: 4, fast: 4},
		{name: "flap: a success resets the count", results: []bool{true}, listed: 2, want: 8, fast: 8},
		{name: "flap: down again", results: []bool{false, false, false}, listed: 1, want: 8, fast: 4},
		{name: "flap: a success, a failure", results: []bool{true, false}, listed: 1, want: 8, fast: 4},
		{name: "flap: up again", results: []bool{true, true}, listed: 2, want: 8, fast: 8},
	}
	checks := "[check.c]\ntype = \"tcp\"\nport = 9\ninterval = \"4s\"\nfast_interval = \"4s\"\nrise = 2\nfall = 3\n"
	for _, fastReturn := range []bool{false, true} {
		t.Run(fmt.Sprintf("fast_return=%v", fastReturn), func(t *testing.T) {
			probe := newFakeProbe()
			fx := newPoolFixture(t, checks+fmt.Sprintf("[[pool]]\nname = \"p.lb.test.\"\nttl = 30\ncheck = \"c\"\nfast_return = %v\n", fastReturn)+memberList("192.0.2.10", "192.0.2.11"), probe)
			var target *health.Target
			for _, tg := range fx.prober.Targets() {
				if tg.Key().Addr.String() == "192.0.2.11" {
					target = tg
				}
			}
			f := fx.family("p.lb.test.", dns.TypeA)
			for _, st := range steps {
				for _, ok := range st.results {
					probe.set("192.0.2.11", fakeFigures{down: !ok})
					fx.prober.CheckNow(context.Background(), target)
				}
				sel := f.selectMembers(nil, client{prefix: -1}, fixtureNow.UnixNano())
				want := st.want
				if fastReturn {
					want = st.fast
				}
				if len(sel.members) != st.listed || sel.ttl != want {
					t.Errorf("%s: %v with TTL %d, want %d members with TTL %d", st.name, selAddrs(sel), sel.ttl, st.listed, want)
				}
			}
		})
	}
}

// TestPolicyNoSharedMutation: no policy changes what its view shares
// between queries, whatever the caller does with the slice it gets back.
func TestPolicyNoSharedMutation(t *testing.T) {
	for _, policy := range config.Policies {
		for _, answers := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s/answers %d", policy, answers), func(t *testing.T) {
				fx := newPoolFixture(t, geoMap(policy)+fmt.Sprintf("[[pool]]\nname = \"p.lb.test.\"\npolicy = %q\nanswers = %d\nmin_healthy = 2\n", policy, answers)+geoKeys(policy)+
					memberList(geoMembers(policy, "192.0.2.10 weight=3", "192.0.2.11 priority=2", "192.0.2.12 weight=2", "192.0.2.13 weight=0", "192.0.2.14 priority=2", "192.0.2.15")...), nil)
				fx.override("p.lb.test.", overrideDrain, "192.0.2.15")
				f := fx.family("p.lb.test.", dns.TypeA)
				now := fixtureNow.UnixNano()
				v := f.currentView(now)
				before := *v
				before.eligible, before.down, before.sorted, before.byPriority, before.groupEnds, before.takingPart, before.sequence = slices.Clone(v.eligible), slices.Clone(v.down), slices.Clone(v.sorted), slices.Clone(v.byPriority), slices.Clone(v.groupEnds), slices.Clone(v.takingPart), slices.Clone(v.sequence)
				ms := slices.Clone(f.members)
				dst := make([]int, 0, 64)
				for q := range 1000 {
					c := client{addr: netip.AddrFrom4([4]byte{10, 0, byte(q >> 8), byte(q)}), prefix: -1}
					sel := f.selectMembers(dst, c, now)
					if sel.fam != f || len(sel.members) == 0 {
						t.Fatalf("selection %+v", sel)
					}
					for k := range sel.members { // the caller scribbles over what it got
						sel.members[k] = -1
					}
					dst = sel.members[:0]
				}
				if f.currentView(now) != v {
					t.Fatal("the view was rebuilt without a health change")
				}
				if !reflect.DeepEqual(&before, v) {
					t.Errorf("the view changed: %+v → %+v", &before, v)
				}
				if !slices.Equal(f.members, ms) {
					t.Error("the members changed")
				}
			})
		}
	}
}

// TestPoolSelectConcurrent: queries on many goroutines while overrides
// flip see only whole views (run with -race).
func TestPoolSelectConcurrent(t *testing.T) {
	for _, policy := range config.Policies {
		t.Run(string(policy), func(t *testing.T) {
			fx := newPoolFixture(t, geoMap(policy)+fmt.Sprintf("[[pool]]\nname = \"p.lb.test.\"\npolicy = %q\nanswers = 2\n", policy)+geoKeys(policy)+
				memberList(geoMembers(policy, "192.0.2.10", "192.0.2.11 weight=2", "192.0.2.12 priority=2", "192.0.2.13")...), nil)
			f := fx.family("p.lb.test.", dns.TypeA)
			var wg sync.WaitGroup
			ctx, cancel := context.WithCancel(context.Background())
			for g := range 4 {
				wg.Go(func() {
					dst := make([]int, 0, 8)
					for q := 0; ctx.Err() == nil; q++ {
						sel := f.selectMembers(dst, client{addr: netip.AddrFrom4([4]byte{10, byte(g), 0, byte(q)}), prefix: -1}, fixtureNow.UnixNano())
						if len(sel.members) == 0 || len(sel.members) > 2 {
							t.Errorf("%d members", len(sel.members))
							return
						}
						dst = sel.members[:0]
					}
				})
			}
			for i := range 200 {
				fx.override("p.lb.test.", uint32(i%4), "192.0.2.1"+fmt.Sprint(i%4))
			}
			cancel()
			wg.Wait()
		})
	}
}
