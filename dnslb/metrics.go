package dnslb

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/dnslb/dnslb/health"

	"github.com/dnslb/dnslb/dnslb/config"
)

// metrics is dnslb's Prometheus side. Query counters are summed from the
// workers' own arrays at scrape time (see stats.go); health and config
// events go to ordinary client_golang metrics. No label takes a query name
// or a client address.
type metrics struct {
	srv *Server

	probeDuration *prometheus.HistogramVec
	probeFailures *prometheus.CounterVec
	probeLocal    *prometheus.CounterVec
	transitions   *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	reloadTime    prometheus.Gauge
	configInfo    *prometheus.GaugeVec
	tcpRefused    prometheus.Counter
	httpShedC     *prometheus.CounterVec
	updates       *prometheus.CounterVec
	transfers     *prometheus.CounterVec
	notifies      *prometheus.CounterVec
	serials       *prometheus.CounterVec

	queries, sizes, durations, truncated, panics, dropped, readErrors, pauses, rrlDropped, rrlSlipped, poolAnswers, memberUp, dcAnswers, paths, cookies, signatures *prometheus.Desc
}

// newMetrics registers the server's metrics on its registry. A registry
// holds one server's: on one that holds another's it fails, registering
// nothing.
func newMetrics(s *Server) (*metrics, error) {
	m := &metrics{
		srv: s,
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dnslb_health_probe_duration_seconds", Help: "Time health probes took, by check.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"check"}),
		probeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dnslb_health_probe_failures_total", Help: "Failed health probes, by check and reason.",
		}, []string{"check", "reason"}),
		probeLocal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dnslb_health_probe_local_errors_total",
			Help: "Health probes that failed for a reason on this host (no file descriptor, memory or route), by check; not counted against the target.",
		}, []string{"check"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dnslb_health_transitions_total", Help: "Health state changes of targets, by check and new state.",
		}, []string{"check", "to"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dnslb_config_reloads_total", Help: "Config reloads, by result (success or failure).",
		}, []string{"result"}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dnslb_config_last_load_timestamp_seconds", Help: "When the running config was loaded (unix time).",
		}),
		configInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dnslb_config_info", Help: "The running config: its file and sha256; always 1.",
		}, []string{"file", "sha256"}),
		tcpRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dnslb_tcp_refused_connections_total", Help: "TCP connections closed at once because tcp_max_connections were open.",
		}),
		httpShedC: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dnslb_http_shed_connections_total",
			Help: "HTTP connections closed because http_max_connections were open: how = evicted (an idle keep-alive made room) or refused (none was idle).",
		}, []string{"how"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dnslb_updates_total", Help: "RFC 2136 updates, by result: accepted, unchanged, replayed (the same signed message again: answered as before), refused, notauth, prerequisite, formerr, notzone, servfail.",
		}, []string{"result"}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dnslb_transfers_total", Help: "Zone transfers out, by type (axfr, ixfr) and result: full (whole zone), incremental, uptodate, tcp (IXFR over UDP answered with the SOA alone), refused, notauth, busy, failed.",
		}, []string{"type", "result"}),
		notifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dnslb_notifies_total", Help: "NOTIFY messages to secondaries, by result: acked, retry, superseded.",
		}, []string{"result"}),
		serials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dnslb_zone_serials_total", Help: "New zone serials published, by zone.",
		}, []string{"zone"}),
		queries:     prometheus.NewDesc("dnslb_queries_total", "Queries answered, by zone, query type, response code and transport.", []string{"zone", "qtype", "rcode", "transport"}, nil),
		sizes:       prometheus.NewDesc("dnslb_response_size_bytes", "Size of responses sent, by transport.", []string{"transport"}, nil),
		durations:   prometheus.NewDesc("dnslb_request_duration_seconds", "Time from reading a query to having its response, sampled 1 in 16.", nil, nil),
		truncated:   prometheus.NewDesc("dnslb_truncated_responses_total", "Responses sent with TC=1, by transport.", []string{"transport"}, nil),
		panics:      prometheus.NewDesc("dnslb_panics_total", "Queries whose handling panicked (answered SERVFAIL).", nil, nil),
		dropped:     prometheus.NewDesc("dnslb_dropped_queries_total", "Datagrams given no response: unreadable, not a DNS query (a response, an unassigned opcode, text), or from the port of a service that answers anything (echo, chargen, ...).", nil, nil),
		readErrors:  prometheus.NewDesc("dnslb_udp_read_errors_total", "UDP socket reads that failed (logged at most once a minute).", nil, nil),
		pauses:      prometheus.NewDesc("dnslb_udp_coalesce_pauses_total", "Pauses a busy UDP worker took to let queries gather before its next read ([server] udp_coalesce).", nil, nil),
		rrlDropped:  prometheus.NewDesc("dnslb_rrl_dropped_total", "Responses dropped by response rate limiting.", nil, nil),
		rrlSlipped:  prometheus.NewDesc("dnslb_rrl_slipped_total", "Responses rate limiting sent truncated (TC=1) instead of dropping.", nil, nil),
		paths:       prometheus.NewDesc("dnslb_answers_total", "Queries answered, by how: from the answer cache, synthesized (names that never repeat), or by the general path.", []string{"how"}, nil),
		cookies:     prometheus.NewDesc("dnslb_cookies_total", "Requests by their DNS cookie (RFC 7873): none, a client cookie only, a server cookie we did not make or expired (bad), or one we made (good).", []string{"result"}, nil),
		poolAnswers: prometheus.NewDesc("dnslb_pool_answers_total", "Pool answers, by pool and the member listed first.", []string{"pool", "member"}, nil),
		dcAnswers:   prometheus.NewDesc("dnslb_pool_datacenter_answers_total", "Answers of geo pools, by pool and the datacenter served.", []string{"pool", "datacenter"}, nil),
		signatures:  prometheus.NewDesc("dnslb_dnssec_signatures_total", "RRSIGs made by zone (one per active key for each RRset signed); a signature reused from the cache is not counted.", []string{"zone"}, nil),
		memberUp:    prometheus.NewDesc("dnslb_member_up", "1 when a pool member is eligible to be served (healthy and not overridden down), else 0.", []string{"pool", "member", "check"}, nil),
	}
	var done []prometheus.Collector
	for _, c := range []prometheus.Collector{m, m.probeDuration, m.probeFailures, m.probeLocal, m.transitions, m.reloads, m.reloadTime, m.configInfo, m.tcpRefused, m.httpShedC, m.updates, m.transfers, m.notifies, m.serials} {
		if err := s.registry.Register(c); err != nil {
			for _, d := range done {
				s.registry.Unregister(d)
			}
			return nil, fmt.Errorf("metrics: the registry holds another server's metrics; give each server its own: %w", err)
		}
		done = append(done, c)
	}
	registerBuildInfo(s.registry, s.opts.Version, s.opts.Revision)
	// Go and process collectors once: the caller's registry may have them.
	_ = s.registry.Register(collectors.NewGoCollector())
	_ = s.registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m, nil
}

// Probed implements health.Hooks.
func (m *metrics) Probed(k health.Key, d time.Duration, reason string) {
	if reason == health.ReasonLocal {
		m.probeLocal.WithLabelValues(k.Check).Inc() // not a probe of the target
		return
	}
	m.probeDuration.WithLabelValues(k.Check).Observe(d.Seconds())
	if reason != "" {
		m.probeFailures.WithLabelValues(k.Check, reason).Inc()
	}
}

// httpShed counts an HTTP connection closed at the limit.
func (m *metrics) httpShed(evicted bool) {
	if evicted {
		m.httpShedC.WithLabelValues("evicted").Inc()
	} else {
		m.httpShedC.WithLabelValues("refused").Inc()
	}
}

// Transition implements health.Hooks.
func (m *metrics) Transition(k health.Key, up bool, _ string) {
	to := "down"
	if up {
		to = "up"
	}
	m.transitions.WithLabelValues(k.Check, to).Inc()
}

func (m *metrics) configLoaded(c *config.Config) {
	m.reloadTime.Set(float64(time.Now().UnixNano()) / 1e9)
	m.configInfo.Reset()
	m.configInfo.WithLabelValues(c.File, c.Hash).Set(1)
}

func (m *metrics) reloaded(err error) {
	if err != nil {
		m.reloads.WithLabelValues("failure").Inc()
	} else {
		m.reloads.WithLabelValues("success").Inc()
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.queries, m.sizes, m.durations, m.truncated, m.panics, m.dropped, m.readErrors, m.pauses, m.rrlDropped, m.rrlSlipped, m.poolAnswers, m.memberUp, m.dcAnswers, m.paths, m.cookies, m.signatures} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it sums every worker's counters.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	s := m.srv
	s.statsMu.Lock()
	all := append([]*workerStats(nil), s.allStats...)
	s.statsMu.Unlock()
	zoneNames := s.zoneSlots.all()

	var q [maxZoneSlots]*zoneTotals
	var sizes [len(transportLabels)][len(sizeBuckets) + 1]uint64
	var sizeSum, trunc [len(transportLabels)]uint64
	var durs [len(durationBuckets) + 1]uint64
	var durSum, panics, dropped, readErrs, pauses, rrlD, rrlS uint64
	var paths [len(pathLabels)]uint64
	var cookies [len(cookieLabels)]uint64
	for _, st := range all {
		for z := range zoneNames {
			zc := st.zones[z].Load()
			if zc == nil {
				continue
			}
			if q[z] == nil {
				q[z] = new(zoneTotals)
			}
			for a := range zc {
				for b := range zc[a] {
					for t := range zc[a][b] {
						q[z][a][b][t] += zc[a][b][t].Load()
					}
				}
			}
		}
		for t := range transportLabels {
			for b := range sizes[t] {
				sizes[t][b] += st.sizes[t][b].Load()
			}
			sizeSum[t] += st.sizeSum[t].Load()
			trunc[t] += st.truncated[t].Load()
		}
		for b := range durs {
			durs[b] += st.durations[b].Load()
		}
		durSum += st.durSum.Load()
		panics += st.panics.Load()
		dropped += st.dropped.Load()
		readErrs += st.readErrors.Load()
		pauses += st.pauses.Load()
		rrlD += st.rrlDrops.Load()
		rrlS += st.rrlSlips.Load()
		for i := range paths {
			paths[i] += st.paths[i].Load()
		}
		for i := range cookies {
			cookies[i] += st.cookies[i].Load()
		}
	}
	for z, name := range zoneNames {
		if q[z] == nil {
			continue
		}
		for a := range q[z] {
			for b := range q[z][a] {
				for t := range q[z][a][b] {
					if v := q[z][a][b][t]; v > 0 {
						ch <- prometheus.MustNewConstMetric(m.queries, prometheus.CounterValue, float64(v), name, qtypeLabels[a], rcodeLabels[b], transportLabels[t])
					}
				}
			}
		}
	}
	for t := range transportLabels {
		ch <- constHistogram(m.sizes, sizes[t][:], sizeBuckets[:], float64(sizeSum[t]), transportLabels[t])
		ch <- prometheus.MustNewConstMetric(m.truncated, prometheus.CounterValue, float64(trunc[t]), transportLabels[t])
	}
	ch <- constHistogram(m.durations, durs[:], durationBuckets[:], float64(durSum)/1e9)
	ch <- prometheus.MustNewConstMetric(m.panics, prometheus.CounterValue, float64(panics))
	ch <- prometheus.MustNewConstMetric(m.dropped, prometheus.CounterValue, float64(dropped))
	ch <- prometheus.MustNewConstMetric(m.readErrors, prometheus.CounterValue, float64(readErrs))
	ch <- prometheus.MustNewConstMetric(m.pauses, prometheus.CounterValue, float64(pauses))
	ch <- prometheus.MustNewConstMetric(m.rrlDropped, prometheus.CounterValue, float64(rrlD))
	ch <- prometheus.MustNewConstMetric(m.rrlSlipped, prometheus.CounterValue, float64(rrlS))
	for i, v := range paths {
		ch <- prometheus.MustNewConstMetric(m.paths, prometheus.CounterValue, float64(v), pathLabels[i])
	}
	for i, v := range cookies {
		ch <- prometheus.MustNewConstMetric(m.cookies, prometheus.CounterValue, float64(v), cookieLabels[i])
	}
	if snap := s.snap.Load(); snap != nil {
		for zone, sg := range snap.signers {
			ch <- prometheus.MustNewConstMetric(m.signatures, prometheus.CounterValue, float64(sg.Signatures()), zone)
		}
		for _, p := range snap.pools {
			if p.cfg.Policy == config.Geo {
				// Each answer counts once for the member it lists first,
				// whose datacenter served it.
				byDC := map[string]uint64{}
				for _, mc := range p.cfg.Members {
					if mb := p.member(mc.Addr); mb != nil {
						byDC[mc.Datacenter] += mb.state.served.Load()
					}
				}
				for dc, n := range byDC {
					ch <- prometheus.MustNewConstMetric(m.dcAnswers, prometheus.CounterValue, float64(n), p.name, dc)
				}
			}
			for _, f := range p.families {
				if f == nil {
					continue
				}
				for _, mb := range f.members {
					addr := mb.addr.String()
					ch <- prometheus.MustNewConstMetric(m.poolAnswers, prometheus.CounterValue, float64(mb.state.served.Load()), p.name, addr)
					up, check := 0.0, ""
					if mb.eligible() {
						up = 1
					}
					if mb.target != nil {
						check = mb.target.Key().Check
					}
					ch <- prometheus.MustNewConstMetric(m.memberUp, prometheus.GaugeValue, up, p.name, addr, check)
				}
			}
		}
	}
}

// constHistogram turns per-bucket counts (the last one +Inf) into a
// cumulative Prometheus histogram.
func constHistogram(d *prometheus.Desc, counts []uint64, bounds []float64, sum float64, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, b := range bounds {
		cum += counts[i]
		buckets[b] = cum
	}
	cum += counts[len(bounds)]
	return prometheus.MustNewConstHistogram(d, cum, sum, buckets, labels...)
}
