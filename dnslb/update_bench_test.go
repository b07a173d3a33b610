package dnslb

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkUpdate is the round trip of one signed update (add, then
// delete, alternating) over TCP (a new connection each, as nsupdate -v
// and lego do): verify, apply, journal with fsync, swap.
// The journal on the test's disk, or on tmpfs (/dev/shm), where fsync
// costs nothing: the ratio is the price of durability. A query round
// trip, over TCP too, is the reference.
func BenchmarkUpdate(b *testing.B) {
	for _, where := range []string{"disk", "tmpfs"} {
		b.Run(where, func(b *testing.B) {
			dir, cfg := updateFixture(b)
			if where == "tmpfs" {
				shm, err := os.MkdirTemp("/dev/shm", "dnslb-bench")
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { os.RemoveAll(shm) })
				conf, _ := os.ReadFile(cfg)
				if err := os.WriteFile(cfg, []byte(strings.Replace(string(conf), `journal = "journal/lb.jnl"`, fmt.Sprintf("journal = %q", filepath.Join(shm, "lb.jnl")), 1)), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			_ = dir
			ts := start(b, cfg, Options{Logger: discardLogger})
			c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{"acme.": acmeSecret}, Timeout: 10 * time.Second}
			name := "_acme-challenge.bench." + updZone
			b.ResetTimer()
			for i := range b.N {
				m := addTXT(name, "x")
				if i%2 == 1 {
					m = delTXT(name)
				}
				m.SetTsig("acme.", dns.HmacSHA256, 300, time.Now().Unix())
				if r, _, err := c.Exchange(m, ts.addr); err != nil || r.Rcode != dns.RcodeSuccess {
					b.Fatalf("%v %v", r, err)
				}
			}
		})
	}
	b.Run("query", func(b *testing.B) {
		_, cfg := updateFixture(b)
		ts := start(b, cfg, Options{Logger: discardLogger})
		c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
		m := new(dns.Msg)
		m.SetQuestion(updZone, dns.TypeSOA)
		b.ResetTimer()
		for range b.N {
			if _, _, err := c.Exchange(m, ts.addr); err != nil {
				b.Fatal(err)
			}
		}
	})
}
