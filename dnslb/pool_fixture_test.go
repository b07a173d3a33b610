package dnslb

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/health"

	"github.com/dnslb/dnslb/dnslb/config"
)

// poolZone is the zone every pool fixture lives in.
const poolZone = `
[[zone]]
origin = "lb.test."
records = [
  "@ 300 IN SOA ns1 hostmaster 1 3600 600 604800 60",
  "@ 300 IN NS ns1",
  "ns1 300 IN A 192.0.2.1",
]
`

// fixtureNow is the fixtures' clock: probes, ChangeAt and queries all read it.
var fixtureNow = time.Unix(1_700_000_000, 0)

// poolFixture is the pools of a config built as a server would build them,
// without a server: queries call selectMembers directly. Members are
// eligible unless overridden, or as the fake prober says when there is one.
type poolFixture struct {
	t      testing.TB
	snap   *snapshot
	states *memberStates
	prober *health.Prober // nil: checks are not attached, members have no target
	probe  *fakeProbe
}

// stateGen is the health source of a fixture without a prober: only
// overrides move it.
type stateGen struct{ s *memberStates }

func (g stateGen) Generation() uint64 { return g.s.gen.Load() }

// newPoolFixture builds the pools of poolZone + pools (TOML). With probe
// non-nil, checks are attached to a prober that probes only when told to.
func newPoolFixture(t testing.TB, pools string, probe *fakeProbe) *poolFixture {
	t.Helper()
	cfg, err := config.Parse("c.toml", []byte(poolZone+pools))
	if err != nil {
		t.Fatal(err)
	}
	fx := &poolFixture{t: t, states: newMemberStates(), probe: probe}
	var hs healthSource = stateGen{fx.states}
	var syncer targetSyncer
	if probe != nil {
		fx.prober = health.NewProber(health.Options{Probe: probe.probe, Jitter: -1, Now: func() time.Time { return fixtureNow }})
		syncer, hs = fx.prober, generations{fx.prober, fx.states}
	}
	fx.snap, err = buildSnapshot(cfg, fx.states, syncer, hs, 16)
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

// family returns the members of pool name answering qtype.
func (fx *poolFixture) family(name string, qtype uint16) *family {
	fx.t.Helper()
	p := fx.snap.poolByName[name]
	if p == nil || p.family(qtype) == nil {
		fx.t.Fatalf("no %s family in pool %s", dns.TypeToString[qtype], name)
	}
	return p.family(qtype)
}

// override sets the operator override of each address in pool.
func (fx *poolFixture) override(pool string, ov uint32, addrs ...string) {
	fx.t.Helper()
	for _, a := range addrs {
		if err := fx.states.setOverride(pool, netip.MustParseAddr(a), ov, fixtureNow); err != nil {
			fx.t.Fatal(err)
		}
	}
}

// probeAll probes every target once, as the schedule would.
func (fx *poolFixture) probeAll() {
	for _, tg := range fx.prober.Targets() {
		fx.prober.CheckNow(context.Background(), tg)
	}
}

// selAddrs renders a selection's members as addresses.
func selAddrs(s selection) []string {
	out := make([]string, len(s.members))
	for k, i := range s.members {
		out[k] = s.fam.members[i].addr.String()
	}
	return out
}

// pickAddrs is one query's selected addresses from a client with no ECS.
func pickAddrs(f *family, now time.Time) []string {
	return selAddrs(f.selectMembers(nil, client{addr: netip.MustParseAddr("198.51.100.7"), prefix: -1}, now.UnixNano()))
}

// fakeProbe answers probes from a table: per address, up or down, with a
// round-trip time and optionally a load.
type fakeProbe struct {
	mu   sync.Mutex
	figs map[netip.Addr]fakeFigures
}

type fakeFigures struct {
	down bool
	rtt  time.Duration
	load float64 // reported when > 0
}

func newFakeProbe() *fakeProbe { return &fakeProbe{figs: map[netip.Addr]fakeFigures{}} }

func (p *fakeProbe) set(addr string, f fakeFigures) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.figs[netip.MustParseAddr(addr)] = f
}

func (p *fakeProbe) probe(_ context.Context, _ *health.Check, addr netip.Addr) health.Result {
	p.mu.Lock()
	f := p.figs[addr]
	p.mu.Unlock()
	r := health.Result{OK: !f.down, RTT: max(f.rtt, time.Microsecond), Load: f.load, HasLoad: f.load > 0}
	if f.down {
		r.Reason = health.ReasonRefused
	}
	return r
}

// memberList builds a TOML members list: "192.0.2.10 weight=3 priority=2".
func memberList(specs ...string) string {
	var b strings.Builder
	b.WriteString("members = [\n")
	for _, s := range specs {
		f := strings.Fields(s)
		b.WriteString(`  { address = "` + f[0] + `"`)
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			if k == "check" || k == "datacenter" {
				v = `"` + v + `"`
			}
			b.WriteString(", " + k + " = " + v)
		}
		b.WriteString(" },\n")
	}
	b.WriteString("]\n")
	return b.String()
}

// geoMap, geoKeys and geoMembers let tests that run every policy run geo
// too: members alternate between datacenters ams and iad; clients in
// 10.0.0.0/9 prefer ams, all others iad.
func geoMap(policy config.Policy) string {
	if policy != "geo" {
		return ""
	}
	return "[map.two]\ndefault = [\"iad\", \"ams\"]\nnets = { \"10.0.0.0/9\" = [\"ams\", \"iad\"] }\n"
}

func geoKeys(policy config.Policy) string {
	if policy != "geo" {
		return ""
	}
	return "map = \"two\"\n"
}

func geoMembers(policy config.Policy, specs ...string) []string {
	if policy != "geo" {
		return specs
	}
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s + " datacenter=" + [2]string{"ams", "iad"}[i%2]
	}
	return out
}
