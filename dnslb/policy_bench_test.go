package dnslb

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/config"
)

// BenchmarkPolicySelect measures selectMembers, the per-query work of a
// pool, for each policy: 8 healthy members, every one served or 2.
func BenchmarkPolicySelect(b *testing.B) {
	var specs []string
	for i := range 8 {
		specs = append(specs, fmt.Sprintf("192.0.2.%d weight=%d priority=%d", 10+i, 1+i%3, 1+i/4))
	}
	for _, policy := range config.Policies {
		for _, answers := range []int{0, 2} {
			b.Run(fmt.Sprintf("%s/answers=%d", policy, answers), func(b *testing.B) {
				probe := newFakeProbe()
				for i := range 8 {
					probe.set(fmt.Sprintf("192.0.2.%d", 10+i), fakeFigures{rtt: time.Duration(8-i) * time.Millisecond, load: float64(i + 1)})
				}
				fx := newPoolFixture(b, liveChecks+geoMap(policy)+fmt.Sprintf("[[pool]]\nname = \"p.lb.test.\"\npolicy = %q\nanswers = %d\ncheck = \"web\"\n", policy, answers)+geoKeys(policy)+memberList(geoMembers(policy, specs...)...), probe)
				fx.probeAll()
				f := fx.family("p.lb.test.", dns.TypeA)
				dst := make([]int, 0, 64)
				c := client{addr: netip.MustParseAddr("198.51.100.7"), prefix: -1}
				now := fixtureNow.UnixNano()
				f.selectMembers(dst, c, now) // builds the view
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					sel := f.selectMembers(dst, c, now)
					dst = sel.members[:0]
				}
			})
		}
	}
}

// BenchmarkPolicyRefresh measures what fastest and least_load redo once per
// refreshEvery (and every policy at a health transition): building the
// view, with 8 members. It allocates; queries between refreshes do not.
func BenchmarkPolicyRefresh(b *testing.B) {
	var specs []string
	for i := range 8 {
		specs = append(specs, fmt.Sprintf("192.0.2.%d weight=%d", 10+i, 1+i%3))
	}
	for _, policy := range []string{"fastest", "least_load", "weighted"} {
		b.Run(policy, func(b *testing.B) {
			probe := newFakeProbe()
			for i := range 8 {
				probe.set(fmt.Sprintf("192.0.2.%d", 10+i), fakeFigures{rtt: time.Duration(8-i) * time.Millisecond, load: float64(i + 1)})
			}
			fx := newPoolFixture(b, liveChecks+fmt.Sprintf("[[pool]]\nname = \"p.lb.test.\"\npolicy = %q\ncheck = \"web\"\n", policy)+memberList(specs...), probe)
			fx.probeAll()
			f := fx.family("p.lb.test.", dns.TypeA)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				f.view.Store(nil) // as a refresh or a transition would
				f.currentView(fixtureNow.UnixNano() + int64(i))
			}
		})
	}
}

// BenchmarkPoolServe measures a whole answer through the query path
// without sockets (parse, answer cache, policy, render) for a pooled name
// of each policy, and for static and negative answers beside them.
func BenchmarkPoolServe(b *testing.B) {
	ts := startPolicyServer(b)
	src := netip.MustParseAddrPort("127.0.0.1:5555")
	for _, q := range []struct {
		name  string
		qtype uint16
		ecs   string
	}{
		{"rr.lb.test.", dns.TypeA, ""},
		{"rr.lb.test.", dns.TypeAAAA, ""},
		{"w.lb.test.", dns.TypeA, ""},
		{"fo.lb.test.", dns.TypeA, ""},
		{"h.lb.test.", dns.TypeA, ""},
		{"h.lb.test.", dns.TypeA, "198.51.100.0/24"},
		{"h.lb.test.", dns.TypeAAAA, "2001:db8:aa::/48"},
		{"fast.lb.test.", dns.TypeA, ""},
		{"load.lb.test.", dns.TypeA, ""},
		{"all.lb.test.", dns.TypeA, ""},
		{"alias2.lb.test.", dns.TypeA, ""},         // two CNAMEs, then the pool
		{"rr.lb.test.", dns.TypeA, "192.0.2.0/24"}, // ECS echoed, scope 0
		{"v4.lb.test.", dns.TypeTXT, ""},           // static
		{"v4.lb.test.", dns.TypeAAAA, ""},          // NODATA at a pool
		{"ns1.lb.test.", dns.TypeA, ""},            // static
	} {
		name := strings.TrimSuffix(q.name, ".lb.test.") + "/" + dns.TypeToString[q.qtype]
		if q.ecs != "" {
			name += "/ecs"
		}
		b.Run(name, func(b *testing.B) {
			m := new(dns.Msg)
			m.SetQuestion(q.name, q.qtype)
			m.SetEdns0(1232, false)
			if q.ecs != "" {
				withECS(q.ecs)(m)
			}
			req, err := m.Pack()
			if err != nil {
				b.Fatal(err)
			}
			w := newWorker(ts.Server, false, ts.Server.newStats())
			if w.serve(req, src) == nil { // the first answer fills the cache
				b.Fatal("no response")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				w.serve(req, src)
			}
		})
	}
}
