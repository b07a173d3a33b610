package dnslb

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
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
// members. Both get the same queries: from 1,024 clients (ECS /24 inside
// the database's networks, echoed by both), from 65,536 (as many as the
// map's cache of answers holds: their entries, and the requests, are
// seldom in the CPU's caches), from 1,024 IPv6 clients (ECS /56), or
// without ECS from one resolver or from 1,024; and, as a control, the
// weighted pool against itself with the ECS queries (aa-ecs: its
// geo/weighted shows the method's own spread). ns/op counts both halves'
// answers; see benchAlternate for the reported medians.
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
name = "wgt.lb.test."
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
	for _, bc := range []struct {
		name    string
		ecs     bool
		clients int
		aa      bool // both halves the weighted pool: the method's own spread
		v6      bool // IPv6 clients (ECS /56)
	}{{"noecs", false, 1, false, false}, {"noecs-1024", false, 1024, false, false}, {"ecs", true, 1024, false, false}, {"ecs-65536", true, 65536, false, false}, {"ecs6", true, 1024, false, true}, {"aa-ecs", true, 1024, true, false}} {
		ecs := bc.ecs
		b.Run(bc.name, func(b *testing.B) {
			// The same requests to each pool, ECS option and all.
			r := rand.New(rand.NewPCG(1, 1))
			var reqs [2][][]byte
			var srcs []netip.AddrPort // without ECS, the resolvers: 127.0.0.1 for one
			for i := range bc.clients {
				if !ecs {
					a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(12)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
					if bc.clients == 1 {
						a = netip.MustParseAddr("127.0.0.1")
					}
					srcs = append(srcs, netip.AddrPortFrom(a, uint16(1024+i)))
				}
				var prefix string
				switch {
				case ecs && bc.v6: // the generated IPv6 networks lie in 2000::/21
					var b [16]byte
					binary.BigEndian.PutUint64(b[:], 0x2000<<48|r.Uint64N(1<<43)&^0xff)
					prefix = netip.PrefixFrom(netip.AddrFrom16(b), 56).String()
				case ecs: // the generated networks begin at 1.0.0.0
					a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(12)), byte(r.IntN(256)), byte(r.IntN(256)), 0})
					prefix = netip.PrefixFrom(a, 24).String()
				}
				qnames := []string{"wgt.lb.test.", "geo.lb.test."}
				if bc.aa {
					qnames[1] = qnames[0]
				}
				for p, qname := range qnames {
					m := new(dns.Msg)
					m.SetQuestion(qname, dns.TypeA)
					m.SetEdns0(1232, false)
					if ecs {
						withECS(prefix)(m)
					}
					req, err := m.Pack()
					if err != nil {
						b.Fatal(err)
					}
					reqs[p] = append(reqs[p], req)
				}
			}
			benchAlternate(b, ts.Server, reqs, srcs)
		})
	}
}

// benchAlternate serves reqs[0] (the weighted pool's) and reqs[1] (the geo
// pool's) in alternating blocks of queries, timing each block by the CPU
// time of the locked thread, and reports the medians of each pool's
// cpu-ns/op and of the ratio geo/weighted of neighbouring blocks: on a
// shared machine, load changes between two runs far more than between two
// blocks a few milliseconds apart.
func benchAlternate(b *testing.B, s *Server, reqs [2][][]byte, srcs []netip.AddrPort) {
	src := func(i int) netip.AddrPort {
		if len(srcs) == 0 {
			return netip.MustParseAddrPort("127.0.0.1:5555")
		}
		return srcs[i%len(srcs)]
	}
	w := newWorker(s, false, s.newStats())
	for p := range reqs {
		for i, req := range reqs[p] { // fill the answer cache, warm the tables
			if w.serve(req, src(i)) == nil {
				b.Fatal("no response")
			}
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const block = 1 << 14
	var per [2][]float64
	var ratios []float64
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(block, b.N-done)
		var ns [2]float64
		for p := range reqs {
			cpu := threadCPU()
			// Labelled for -cpuprofile: pprof -tagfocus pool=geo.
			pprof.Do(context.Background(), pprof.Labels("pool", poolLabels[p]), func(context.Context) {
				for i := range n {
					w.serve(reqs[p][i%len(reqs[p])], src(i))
				}
			})
			ns[p] = float64(threadCPU()-cpu) / float64(n)
			per[p] = append(per[p], ns[p])
		}
		if ns[0] > 0 {
			ratios = append(ratios, ns[1]/ns[0])
		}
		done += n
	}
	b.StopTimer()
	b.ReportMetric(median(per[0]), "weighted-cpu-ns/op")
	b.ReportMetric(median(per[1]), "geo-cpu-ns/op")
	b.ReportMetric(median(ratios), "geo/weighted")
}

var poolLabels = [2]string{"weighted", "geo"}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
