package dnslb

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// registerBuildInfo exports dnslb_build_info{version, revision} = 1, the
// way Prometheus's own servers report what runs. The revision comes from
// the Go build's VCS stamp when the caller gives none.
func registerBuildInfo(reg prometheus.Registerer, version, revision string) {
	if revision == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					revision = s.Value
				}
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "dnslb_build_info",
		Help:        "The running binary: its version and VCS revision; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision},
	})
	g.Set(1)
	_ = reg.Register(g) // a registry shared by several servers (tests) keeps the first
}
