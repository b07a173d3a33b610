package dnslb

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/geo/geotest"
)

// benchDB is the generated database of BenchmarkGeoServe, written once
// per test binary: -count runs the benchmark again, interleaving its cases.
var (
	benchDBOnce sync.Once
	benchDB     []byte
)

// BenchmarkGeoServe compares a whole geo answer with a weighted one through
// the query path (parse, answer cache, policy, render): the geo pool has
// three datacenters of four members with within = "weighted", its map a
// generated database of 100,000 networks; the weighted pool has four
// members. Queries come from 1,024 clients (ECS /24 inside the database's
// networks), or without ECS. cpu-ns/op is the CPU time of the benchmark's
// thread per answer, steadier than ns/op on a shared machine.
func BenchmarkGeoServe(b *testing.B) {
	dir := b.TempDir()
	benchDBOnce.Do(func() {
		path := filepath.Join(dir, "big.mmdb")
		if err := geotest.WriteRandom(path, 100_000, 1); err != nil {
			b.Fatal(err)
		}
		benchDB, _ = os.ReadFile(path)
	})
	if err := os.WriteFile(filepath.Join(dir, "big.mmdb"), benchDB, 0o644); err != nil {
		b.Fatal(err)
	}
	var w, g []string
	for i := range 4 {
		w = append(w, fmt.Sprintf("{ address = \"192.0.2.%d\", weight = %d }", 10+i, 1+i%3))
		for d, dc := range []string{"ams", "iad", "nrt"} {
			g = append(g, fmt.Sprintf("{ address = \"192.0.2.%d\", weight = %d, datacenter = %q }", 100+10*d+i, 1+i%3, dc))
		}
	}
	cfg := `[server]
listen = ["127.0.0.1:0"]
http = ""
[[zone]]
origin = "lb.test."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 30", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
[map.world]
geoip_db = "big.mmdb"
default = ["iad", "ams"]
[map.world.locations]
"EU" = ["ams", "iad"]
"NA" = ["iad", "ams"]
"AS" = ["nrt", "iad"]
"OC" = ["nrt", "iad"]
"SA" = ["iad", "ams"]
[[pool]]
name = "w.lb.test."
policy = "weighted"
members = [` + strings.Join(w, ", ") + `]
[[pool]]
name = "geo.lb.test."
policy = "geo"
map = "world"
within = "weighted"
members = [` + strings.Join(g, ", ") + `]
`
	if err := writeFile(filepath.Join(dir, "dnslb.toml"), cfg); err != nil {
		b.Fatal(err)
	}
	ts := start(b, filepath.Join(dir, "dnslb.toml"), Options{Logger: discardLogger})
	src := netip.MustParseAddrPort("127.0.0.1:5555")
	r := rand.New(rand.NewPCG(1, 1))
	for _, q := range []struct{ name, qname string }{{"weighted", "w.lb.test."}, {"geo", "geo.lb.test."}} {
		for _, ecs := range []bool{false, true} {
			name := q.name
			if ecs {
				name += "/ecs"
			}
			b.Run(name, func(b *testing.B) {
				reqs := make([][]byte, 1024)
				for i := range reqs {
					m := new(dns.Msg)
					m.SetQuestion(q.qname, dns.TypeA)
					m.SetEdns0(1232, false)
					if ecs { // the generated networks begin at 1.0.0.0
						a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(12)), byte(r.IntN(256)), byte(r.IntN(256)), 0})
						withECS(netip.PrefixFrom(a, 24).String())(m)
					}
					var err error
					if reqs[i], err = m.Pack(); err != nil {
						b.Fatal(err)
					}
				}
				w := newWorker(ts.Server, false, ts.Server.newStats())
				if w.serve(reqs[0], src) == nil { // the first answer fills the cache
					b.Fatal("no response")
				}
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				b.ReportAllocs()
				b.ResetTimer()
				cpu := threadCPU()
				for i := range b.N {
					w.serve(reqs[i&1023], src)
				}
				if cpu > 0 {
					b.ReportMetric(float64(threadCPU()-cpu)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}
