package dnslb

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/geo/geotest"
	"github.com/dnslb/dnslb/dnslb/testutil"
)

// geoConfig: three pools over one generated database. www routes by
// location and nets; near orders datacenters by distance; fo fails over
// down the list when a datacenter has fewer than two eligible members.
const geoConfig = `
[server]
listen = ["127.0.0.1:0"]
http = "127.0.0.1:0"

[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]

[check.tcp]
type = "tcp"
port = 9
interval = "10s"
rise = 1
fall = 1

[map.world]
geoip_db = "city.mmdb"
default = ["iad", "ams"]
nets_file = "nets.txt"
[map.world.locations]
"EU" = ["ams", "iad"]
"EU/GB" = ["lhr", "ams", "iad"]
"EU/GB/SCT" = ["ams", "lhr"]
"NA/US/CA" = ["sjc", "iad"]
"NA/US/CA/Los Angeles" = ["lax", "sjc"]
"AS" = ["nrt", "sjc"]
[map.world.nets]
"12.2.3.0/24" = ["ams"]
"2001:db8:200:ff::/64" = ["ams"]

[map.near]
geoip_db = "city.mmdb"
default = ["iad"]
auto = true
[map.near.coordinates]
ams = [52.37, 4.90]
iad = [38.95, -77.45]
sjc = [37.36, -121.93]
nrt = [35.77, 140.39]

[[pool]]
name = "www.lb.test."
policy = "geo"
map = "world"
members = [
  { address = "192.0.2.10", datacenter = "ams" },
  { address = "192.0.2.11", datacenter = "ams" },
  { address = "192.0.2.20", datacenter = "iad" },
  { address = "192.0.2.30", datacenter = "sjc" },
  { address = "192.0.2.40", datacenter = "lhr" },
  { address = "192.0.2.50", datacenter = "lax" },
  { address = "192.0.2.60", datacenter = "nrt" },
  { address = "2001:db8:a::10", datacenter = "ams" },
  { address = "2001:db8:a::20", datacenter = "iad" },
  { address = "2001:db8:a::30", datacenter = "sjc" },
]

[[pool]]
name = "near.lb.test."
policy = "geo"
map = "near"
within = "all"
members = [
  { address = "192.0.2.110", datacenter = "ams" },
  { address = "192.0.2.120", datacenter = "iad" },
  { address = "192.0.2.130", datacenter = "sjc" },
  { address = "192.0.2.160", datacenter = "nrt" },
]

[[pool]]
name = "fo.lb.test."
policy = "geo"
map = "world"
within = "all"
check = "tcp"
min_healthy = 2
when_all_down = "none"
members = [
  { address = "192.0.2.210", datacenter = "lhr" },
  { address = "192.0.2.211", datacenter = "lhr" },
  { address = "192.0.2.220", datacenter = "ams" },
  { address = "192.0.2.221", datacenter = "ams" },
  { address = "192.0.2.230", datacenter = "iad" },
  { address = "192.0.2.231", datacenter = "iad" },
]
`

// startGeoServer writes the database, the nets file and the config, and
// starts a server whose health checks ask probe.
func startGeoServer(t testing.TB, probe *fakeProbe) (*testServer, string) {
	t.Helper()
	dir := testutil.WriteFiles(t, map[string]string{
		"dnslb.toml": geoConfig,
		"nets.txt":   "# customers of ours\n198.51.100.0/24 sjc iad\n",
	})
	writeGeoDB(t, dir)
	o := Options{}
	if probe != nil {
		o.Probe = probe.probe
	}
	return start(t, filepath.Join(dir, "dnslb.toml"), o), dir
}

// geoAsk asks qname/qtype with the client subnet ecs ("" for none) and
// returns the addresses served (sorted) and the ECS option returned.
func (ts *testServer) geoAsk(t *testing.T, netw, qname string, qtype uint16, ecs string) ([]string, *dns.EDNS0_SUBNET) {
	t.Helper()
	var edit func(*dns.Msg)
	if ecs != "" {
		edit = withECS(ecs)
	}
	r := ts.poolQuery(t, netw, qname, qtype, edit)
	var addrs []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			addrs = append(addrs, rr.A.String())
		case *dns.AAAA:
			addrs = append(addrs, rr.AAAA.String())
		}
	}
	slices.Sort(addrs)
	var got *dns.EDNS0_SUBNET
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if s, ok := e.(*dns.EDNS0_SUBNET); ok {
				got = s
			}
		}
	}
	return addrs, got
}

// TestGeoWire: clients, located by their ECS subnet in a generated
// database, get the datacenter of the most specific rule, over UDP and TCP;
// the scope is the network the answer holds for.
func TestGeoWire(t *testing.T) {
	ts, _ := startGeoServer(t, nil)
	tests := []struct {
		name, qname string
		qtype       uint16
		ecs         string
		want        string // addresses, sorted, space-separated
		scope       int
	}{
		{"continent", "www", dns.TypeA, "2.16.5.0/24", "192.0.2.10 192.0.2.11", 16},
		{"country", "www", dns.TypeA, "81.2.69.0/24", "192.0.2.40", 24},
		{"subdivision", "www", dns.TypeA, "81.2.70.0/24", "192.0.2.10 192.0.2.11", 24},
		{"subdivision, US", "www", dns.TypeA, "12.0.7.0/24", "192.0.2.30", 16},
		{"city", "www", dns.TypeA, "12.1.0.0/24", "192.0.2.50", 16},
		{"no rule: default", "www", dns.TypeA, "12.2.0.0/24", "192.0.2.20", 23},
		{"nets beat the database", "www", dns.TypeA, "12.2.3.0/24", "192.0.2.10 192.0.2.11", 24},
		{"nets file", "www", dns.TypeA, "198.51.100.0/24", "192.0.2.30", 24},
		{"not in the database", "www", dns.TypeA, "192.0.2.0/24", "192.0.2.20", 6}, // 192.0.0.0/6 is all default
		{"continent AS", "www", dns.TypeA, "1.0.0.0/24", "192.0.2.60", 16},
		{"IPv6 client, country", "www", dns.TypeA, "2001:db8:100::/48", "192.0.2.40", 40},
		{"IPv6 client, AAAA, country without AAAA", "www", dns.TypeAAAA, "2001:db8:100::/48", "2001:db8:a::10", 40}, // lhr has no AAAA: next is ams
		{"IPv6 client, AAAA, city", "www", dns.TypeAAAA, "2001:db8:200::/48", "2001:db8:a::30", 57},                 // the nets /64 at :ff:: cuts the /40
		{"IPv6 client, nets", "www", dns.TypeAAAA, "2001:db8:200:ff::/64", "2001:db8:a::10", 64},
		{"6to4 client: its IPv4 country", "www", dns.TypeA, "2002:5102:4500::/40", "192.0.2.40", 16 + 24},
		{"6to4 client, AAAA: its IPv4 subdivision", "www", dns.TypeAAAA, "2002:5102:4600::/48", "2001:db8:a::10", 16 + 24},
		{"Teredo client: its IPv4 country", "www", dns.TypeA, "2001:0:4136:e378:8000:63bf:aefd:baff/128", "192.0.2.40", 96 + 24}, // 81.2.69.0 inverted
		{"v4-mapped client in IPv6 ECS", "www", dns.TypeA, "::ffff:81.2.69.0/120", "192.0.2.40", 96 + 24},
		{"v4-compatible client", "www", dns.TypeA, "::81.2.69.0/120", "192.0.2.40", 96 + 24},
		{"auto: London", "near", dns.TypeA, "81.2.69.0/24", "192.0.2.110", 24},
		{"auto: San Jose", "near", dns.TypeA, "12.0.0.0/24", "192.0.2.130", 15}, // Los Angeles next door gets the same list
		{"auto: New York", "near", dns.TypeA, "12.2.0.0/24", "192.0.2.120", 16},
		{"auto: Tokyo", "near", dns.TypeA, "1.0.0.0/24", "192.0.2.160", 16},
		{"auto: Sydney", "near", dns.TypeA, "1.1.0.0/24", "192.0.2.160", 16},
		{"auto: IPv6 Tokyo", "near", dns.TypeA, "2001:db8:300::/48", "192.0.2.160", 40},
		{"auto: unknown, default", "near", dns.TypeA, "192.0.2.0/24", "192.0.2.120", 1},
	}
	for _, netw := range transports {
		for _, tt := range tests {
			t.Run(netw+"/"+tt.name, func(t *testing.T) {
				addrs, ecs := ts.geoAsk(t, netw, tt.qname+".lb.test.", tt.qtype, tt.ecs)
				if got := strings.Join(addrs, " "); got != tt.want {
					t.Errorf("served %q, want %q", got, tt.want)
				}
				if ecs == nil {
					t.Fatal("no ECS option in the response")
				}
				if int(ecs.SourceScope) != tt.scope {
					t.Errorf("scope /%d, want /%d", ecs.SourceScope, tt.scope)
				}
			})
		}
	}
	// A client without ECS is located by the resolver's address (here
	// 127.0.0.1, in no rule: the default), and gets no ECS option.
	addrs, ecs := ts.geoAsk(t, "udp", "www.lb.test.", dns.TypeA, "")
	if strings.Join(addrs, " ") != "192.0.2.20" || ecs != nil {
		t.Errorf("without ECS: %v, ECS %v; want the default datacenter and no ECS", addrs, ecs)
	}
	// Source prefix 0: the resolver asks us not to use the client's
	// address: the default list, scope 0.
	m := new(dns.Msg)
	m.SetQuestion("www.lb.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 0, Address: netip.IPv4Unspecified().AsSlice()})
	r := ts.exchange(t, "udp", m)
	if got := addresses(r); len(got) != 1 || got[0] != "192.0.2.20" {
		t.Errorf("ECS /0: %v, want the default datacenter", got)
	}
}

// TestGeoWireFailover: as a datacenter's members die (health check) or are
// drained, its clients go down their list, and back when they return.
func TestGeoWireFailover(t *testing.T) {
	probe := newFakeProbe()
	ts, _ := startGeoServer(t, probe)
	probeAll := func() {
		for _, tg := range ts.prober.Targets() {
			ts.prober.CheckNow(context.Background(), tg)
		}
	}
	london := "81.2.69.0/24" // EU/GB: lhr, ams, iad
	expect := func(step, want string) {
		t.Helper()
		for _, netw := range transports {
			addrs, _ := ts.geoAsk(t, netw, "fo.lb.test.", dns.TypeA, london)
			if got := strings.Join(addrs, " "); got != want {
				t.Errorf("%s, %s: served %q, want %q", step, netw, got, want)
			}
		}
	}
	probeAll()
	expect("all up", "192.0.2.210 192.0.2.211")
	probe.set("192.0.2.211", fakeFigures{down: true})
	probeAll()
	expect("one of lhr down (min_healthy 2)", "192.0.2.220 192.0.2.221")
	if err := ts.states.setOverride("fo.lb.test.", netip.MustParseAddr("192.0.2.220"), overrideDrain, time.Now()); err != nil {
		t.Fatal(err)
	}
	expect("one of ams drained", "192.0.2.230 192.0.2.231")
	probe.set("192.0.2.230", fakeFigures{down: true})
	probeAll()
	// No datacenter has two: when_all_down = "none" answers with no record.
	m := new(dns.Msg)
	m.SetQuestion("fo.lb.test.", dns.TypeA)
	m.SetEdns0(1232, false)
	withECS(london)(m)
	if r := ts.exchange(t, "udp", m); len(addresses(r)) != 0 {
		t.Errorf("nothing has min_healthy: served %v, want nothing", addresses(r))
	}
	if err := ts.states.setOverride("fo.lb.test.", netip.MustParseAddr("192.0.2.220"), overrideNone, time.Now()); err != nil {
		t.Fatal(err)
	}
	expect("ams undrained", "192.0.2.220 192.0.2.221")
	probe.set("192.0.2.211", fakeFigures{})
	probeAll()
	expect("lhr back", "192.0.2.210 192.0.2.211")
	// Answers are counted by the datacenter that served them.
	metrics := ts.scrape(t)
	for dc, want := range map[string]float64{"lhr": 4, "ams": 4, "iad": 2} {
		if got := metrics["dnslb_pool_datacenter_answers_total{datacenter="+dc+",pool=fo.lb.test.}"]; got != want {
			t.Errorf("answers from %s: %v, want %v", dc, got, want)
		}
	}
	// The status shows each datacenter's eligible members.
	st := ts.status()
	for _, p := range st.Pools {
		if p.Name != "fo.lb.test." {
			continue
		}
		got := fmt.Sprint(p.Datacenters)
		if want := "[{ams A 2 2 2} {iad A 1 2 2} {lhr A 2 2 2}]"; got != want {
			t.Errorf("datacenters %s, want %s", got, want)
		}
	}
}

// TestGeoWireScope: for a response with scope S, every address inside that
// /S gets the same datacenter (the scope property, on the wire).
func TestGeoWireScope(t *testing.T) {
	ts, _ := startGeoServer(t, nil)
	r := rand.New(rand.NewPCG(7, 8))
	type area struct {
		p   netip.Prefix
		src int // ECS source prefix length
	}
	var around []area // the database's networks, widened: their edges are where answers change
	for _, e := range geoDB {
		p := netip.MustParsePrefix(e.Net)
		src := 24
		if p.Addr().Is6() {
			src = 48
		}
		around = append(around, area{netip.PrefixFrom(p.Addr(), p.Bits()-3).Masked(), src})
	}
	for _, a := range []area{
		{netip.MustParsePrefix("12.2.0.0/20"), 24}, {netip.MustParsePrefix("198.51.96.0/20"), 24}, {netip.MustParsePrefix("0.0.0.0/0"), 24},
		{netip.MustParsePrefix("2001:db8:200::/56"), 48}, {netip.MustParsePrefix("2000::/3"), 48},
		{netip.MustParsePrefix("2002:5102:4000::/36"), 48}, // 6to4 of 81.2.64.0/20
		{netip.MustParsePrefix("2002::/16"), 48},
		{netip.MustParsePrefix("2001:0:4136:e378:8000:63bf:aefd:b000/116"), 128}, // Teredo of 81.2.64.0/20
		{netip.MustParsePrefix("::ffff:81.2.64.0/116"), 120},
	} {
		around = append(around, a)
	}
	for range 80 {
		ar := around[r.IntN(len(around))]
		q := netip.PrefixFrom(randomAddrIn(r, ar.p), ar.src).Masked()
		want, ecs := ts.geoAsk(t, "udp", "www.lb.test.", dns.TypeA, q.String())
		if ecs == nil {
			t.Fatal("no ECS in the response")
		}
		a, src := q.Addr(), q.Bits()
		scope := netip.PrefixFrom(a, int(ecs.SourceScope)).Masked()
		for range 5 {
			b := randomAddrIn(r, scope)
			full := 32
			if b.Is6() {
				full = 128
			}
			got, _ := ts.geoAsk(t, "udp", "www.lb.test.", dns.TypeA, netip.PrefixFrom(b, full).String())
			if !slices.Equal(got, want) {
				t.Fatalf("%s/%d got %v with scope %s, but %s inside it gets %v", a, src, want, scope, b, got)
			}
		}
	}
}

// randomAddrIn returns a random address of p.
func randomAddrIn(r *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	pb := slices.Clone(b)
	for i := range b {
		keep := min(max(p.Bits()-8*i, 0), 8)
		mask := byte(0xff << (8 - keep))
		b[i] = pb[i]&mask | byte(r.IntN(256))&^mask
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestGeoReload: an unchanged reload keeps the compiled map; a changed
// database and nets file take effect on reload; a corrupt database refuses
// the reload, and the running map keeps serving.
func TestGeoReload(t *testing.T) {
	ts, dir := startGeoServer(t, nil)
	ask := func(ecs string) string {
		t.Helper()
		addrs, _ := ts.geoAsk(t, "udp", "www.lb.test.", dns.TypeA, ecs)
		return strings.Join(addrs, " ")
	}
	if got := ask("1.1.0.0/24"); got != "192.0.2.20" { // OC: no rule
		t.Fatalf("before: %q", got)
	}
	// A reload that changes nothing keeps the compiled map.
	before := ts.snap.Load().cfg.Maps["world"].Geo
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if ts.snap.Load().cfg.Maps["world"].Geo != before {
		t.Error("an unchanged reload compiled the map again")
	}
	// The database now puts 1.1.0.0/16 in Asia, the nets file moves
	// 198.51.100.0/24 to lhr.
	moved := slices.Clone(geoDB)
	for i := range moved {
		if moved[i].Net == "1.1.0.0/16" {
			moved[i].Continent, moved[i].Country = "AS", "JP"
		}
	}
	tmp := filepath.Join(dir, "new.mmdb")
	if err := geotest.Write(tmp, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "city.mmdb")); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(filepath.Join(dir, "nets.txt"), "198.51.100.0/24 lhr\n"); err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := ask("1.1.0.0/24"); got != "192.0.2.60" {
		t.Errorf("after the database changed: %q, want nrt's 192.0.2.60", got)
	}
	if ts.snap.Load().cfg.Maps["world"].Geo == before {
		t.Error("the database changed, but the reload kept the old map")
	}
	if got := ask("198.51.100.0/24"); got != "192.0.2.40" {
		t.Errorf("after the nets file changed: %q, want lhr's 192.0.2.40", got)
	}
	if err := writeFile(filepath.Join(dir, "city.mmdb"), "truncated"); err != nil {
		t.Fatal(err)
	}
	err := ts.Reload()
	if err == nil || !strings.Contains(err.Error(), "dnslb.toml:18: map.world.geoip_db: ") || !strings.Contains(err.Error(), "is not a valid MaxMind DB") {
		t.Fatalf("reload with a corrupt database: %v", err)
	}
	if got := ask("1.1.0.0/24"); got != "192.0.2.60" {
		t.Errorf("after a refused reload: %q, want the running map's answer", got)
	}
}

// TestGeoFastPathMatchesGeneral: a geo answer from the answer cache is the
// same, byte for byte, as the general path's, with and without ECS, for
// IPv4 and IPv6 clients.
func TestGeoFastPathMatchesGeneral(t *testing.T) {
	ts, _ := startGeoServer(t, nil)
	src := netip.MustParseAddrPort("192.0.2.99:5353")
	fromCache := 0
	for _, tcp := range []bool{false, true} {
		w := newWorker(ts.Server, tcp, ts.Server.newStats())
		for _, ecs := range []string{"", "81.2.69.0/24", "12.0.0.0/16", "2001:db8:300::/48", "198.51.100.0/24", "0.0.0.0/0"} {
			for _, q := range []struct {
				name  string
				qtype uint16
			}{{"near.lb.test.", dns.TypeA}, {"fo.lb.test.", dns.TypeA}, {"www.lb.test.", dns.TypeAAAA}} { // one member per datacenter, or all
				m := new(dns.Msg)
				m.SetQuestion(q.name, q.qtype)
				m.SetEdns0(1232, false)
				if ecs != "" {
					withECS(ecs)(m)
				}
				req, err := m.Pack()
				if err != nil {
					t.Fatal(err)
				}
				clear(ts.snap.Load().cache.slots)
				seenBefore(ts.snap.Load().cache, req)
				general := bytes.Clone(w.serve(req, src))
				if key, ok := parseQuery(req, &query{}, nil); ok && ts.snap.Load().cache.get(key) != nil {
					fromCache++
				}
				cached := w.serve(req, src)
				if !bytes.Equal(general, cached) {
					t.Errorf("%s ECS %q (tcp %v): general path % x\ncached path  % x", q.name, ecs, tcp, general, cached)
				}
			}
		}
	}
	if fromCache != 2*6*3 {
		t.Errorf("%d of %d second answers came from the cache", fromCache, 2*6*3)
	}
}
