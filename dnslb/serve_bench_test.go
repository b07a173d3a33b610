package dnslb

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// benchServer is the bench config (testdata/bench) on an ephemeral port,
// with members always healthy (no check) so that nothing probes, and the
// zone unsigned.
func benchServer(b *testing.B) *Server {
	b.Helper()
	cfg, err := os.ReadFile("../testdata/bench/dnslb.toml")
	if err != nil {
		b.Fatal(err)
	}
	zone, err := os.ReadFile("../testdata/bench/lb.example.zone")
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Replace(string(cfg), "127.0.0.1:5310", "127.0.0.1:0", 1)
	text = strings.Replace(text, `check = "web"`, "", 1)
	if i, j := strings.Index(text, "[zone.dnssec]"), strings.Index(text, "key_dir = \"keys\"\n"); i >= 0 && j > i {
		text = text[:i] + text[j+len("key_dir = \"keys\"\n"):] // unsigned, as before (compare.sh's +do sets sign)
	}
	dir := testutil.WriteFiles(b, map[string]string{"dnslb.toml": text, "lb.example.zone": string(zone)})
	srv, err := New(dir+"/dnslb.toml", Options{Logger: discardLogger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.closeListeners)
	return srv
}

// BenchmarkServe measures the query path without sockets, for each kind of
// query of the bench's mixed set; after the first query each is answered
// from the answer cache.
func BenchmarkServe(b *testing.B) {
	srv := benchServer(b)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.lb.example.", dns.TypeA},     // pooled
		{"api.lb.example.", dns.TypeA},     // CNAME to the pool
		{"www.lb.example.", dns.TypeAAAA},  // static
		{"nope.lb.example.", dns.TypeA},    // NXDOMAIN
		{"x.wild.lb.example.", dns.TypeA},  // wildcard
		{"foo.sub.lb.example.", dns.TypeA}, // referral
		{"www.example.net.", dns.TypeA},    // REFUSED
	} {
		b.Run(strings.TrimSuffix(q.name, ".lb.example.")+"/"+dns.TypeToString[q.qtype], func(b *testing.B) {
			benchQuery(b, srv, false, q.name, q.qtype, 1232, false)
		})
	}
}

// benchQuery measures one query on a worker of srv (UDP or TCP) without
// sockets; the first answer, not measured, fills the cache.
func benchQuery(b *testing.B, srv *Server, tcp bool, name string, qtype, udpSize uint16, do bool) {
	b.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(udpSize, do)
	req, _ := m.Pack()
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	w := newWorker(srv, tcp, srv.newStats())
	if w.serve(req, src) == nil {
		b.Fatal("no response")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.serve(req, src)
	}
}

// BenchmarkServeGeneral measures the general path alone (the cache is
// bypassed by a query shape the fast path leaves to it: two OPT-less
// additional records are not needed; a cache miss is forced instead).
func BenchmarkServeGeneral(b *testing.B) {
	srv := benchServer(b)
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	m := new(dns.Msg)
	m.SetQuestion("www.lb.example.", dns.TypeAAAA)
	m.SetEdns0(1232, false)
	req, _ := m.Pack()
	w := newWorker(srv, false, srv.newStats())
	snap := srv.snap.Load()
	b.ReportAllocs()
	for range b.N {
		snap.cache = newAnswerCache(2)
		w.serve(req, src)
	}
}

// BenchmarkServeRandom measures names that never repeat: 65536 distinct
// random names, each asked once per round, nonexistent and under the
// wildcard, synthesized (the default) and through the general path.
func BenchmarkServeRandom(b *testing.B) {
	srv := benchServer(b)
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	rng := rand.New(rand.NewPCG(3, 4))
	for _, set := range []struct{ name, suffix string }{
		{"nxdomain", ".lb.example."},
		{"wildcard", ".wild.lb.example."},
	} {
		reqs := make([][]byte, 1<<16)
		for i := range reqs {
			m := new(dns.Msg)
			m.SetQuestion(fmt.Sprintf("%x%s", rng.Uint64(), set.suffix), dns.TypeA)
			m.SetEdns0(1232, false)
			reqs[i], _ = m.Pack()
		}
		for _, general := range []bool{false, true} {
			path := "synthesized"
			if general {
				path = "general"
			}
			b.Run(set.name+"/"+path, func(b *testing.B) {
				w := newWorker(srv, false, srv.newStats())
				w.noSynth = general
				if w.serve(reqs[0], src) == nil {
					b.Fatal("no response")
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					w.serve(reqs[i&(len(reqs)-1)], src)
				}
			})
		}
	}
}

// BenchmarkServeFlood is the bench's random-name query sets (compare.sh's
// wildrand and nxrand: 200,000 distinct names, a random label of 8-15
// letters and digits and its index) and its cached www, each request
// copied into one receive buffer first as the socket read does: the
// names' memory is streamed, the server's own tables are what stays in
// the CPU caches or not.
func BenchmarkServeFlood(b *testing.B) {
	srv := benchServer(b)
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	for _, set := range []struct {
		name, suffix string
		n            int
	}{
		{"www", "", 1},
		{"nxrand", ".lb.example.", 200000},
		{"wildrand", ".wild.lb.example.", 200000},
	} {
		rng := rand.New(rand.NewPCG(18, 18))
		var all []byte
		var ends []int
		for i := range set.n {
			name := "www.lb.example."
			if set.suffix != "" {
				label := make([]byte, 8+rng.IntN(8))
				for j := range label {
					label[j] = chars[rng.IntN(len(chars))]
				}
				name = fmt.Sprintf("%s%d%s", label, i, set.suffix)
			}
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeA)
			m.SetEdns0(1232, false)
			req, _ := m.Pack()
			all = append(all, req...)
			ends = append(ends, len(all))
		}
		b.Run(set.name, func(b *testing.B) {
			w := newWorker(srv, false, srv.newStats())
			buf := make([]byte, 0, 512)
			req := func(i int) []byte {
				i %= len(ends)
				start := 0
				if i > 0 {
					start = ends[i-1]
				}
				return append(buf[:0], all[start:ends[i]]...)
			}
			if w.serve(req(0), src) == nil {
				b.Fatal("no response")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				w.serve(req(i), src)
			}
		})
	}
}
