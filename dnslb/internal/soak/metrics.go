package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// sample is one scrape of dnslb's /metrics (and /proc).
type sample struct {
	at         time.Time
	rss        float64 // process_resident_memory_bytes
	vmRSS      float64 // /proc/PID/status, 0 when unreadable
	goroutines float64 // go_goroutines
	fds        float64 // process_open_fds
	heap       float64 // go_memstats_heap_inuse_bytes
	heapIdle   float64 // go_memstats_heap_idle_bytes: free spans, not yet returned
	released   float64 // go_memstats_heap_released_bytes: returned to the OS
	stack      float64 // go_memstats_stack_inuse_bytes
	nextGC     float64 // go_memstats_next_gc_bytes
	udpDrops   int64   // dnslb's UDP sockets' drops, /proc/net/udp

	rcodes             map[string]float64 // dnslb_queries_total by rcode
	dropped, panics    float64
	reloadOK, reloadKO float64
	toDown, toUp       float64            // dnslb_health_transitions_total
	probeFailures      map[string]float64 // dnslb_health_probe_failures_total by reason
}

// scrape reads /metrics.
func scrape(ctx context.Context, hc *http.Client, httpAddr netip.AddrPort, pid int) (sample, error) {
	s := sample{at: time.Now(), rcodes: map[string]float64{}, probeFailures: map[string]float64{}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr.String()+"/metrics", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return s, fmt.Errorf("GET /metrics: %w", err)
	}
	one := func(name string) float64 {
		if f := fams[name]; f != nil && len(f.Metric) > 0 {
			return value(f.Metric[0])
		}
		return 0
	}
	each := func(name, label string, fn func(string, float64)) {
		if f := fams[name]; f != nil {
			for _, m := range f.Metric {
				for _, l := range m.Label {
					if l.GetName() == label {
						fn(l.GetValue(), value(m))
					}
				}
			}
		}
	}
	s.rss = one("process_resident_memory_bytes")
	s.goroutines = one("go_goroutines")
	s.fds = one("process_open_fds")
	s.heap = one("go_memstats_heap_inuse_bytes")
	s.heapIdle = one("go_memstats_heap_idle_bytes")
	s.released = one("go_memstats_heap_released_bytes")
	s.stack = one("go_memstats_stack_inuse_bytes")
	s.nextGC = one("go_memstats_next_gc_bytes")
	s.dropped = one("dnslb_dropped_queries_total")
	s.panics = one("dnslb_panics_total")
	each("dnslb_queries_total", "rcode", func(v string, n float64) { s.rcodes[v] += n })
	each("dnslb_config_reloads_total", "result", func(v string, n float64) {
		if v == "success" {
			s.reloadOK += n
		} else {
			s.reloadKO += n
		}
	})
	each("dnslb_health_transitions_total", "to", func(v string, n float64) {
		if v == "up" {
			s.toUp += n
		} else {
			s.toDown += n
		}
	})
	each("dnslb_health_probe_failures_total", "reason", func(v string, n float64) { s.probeFailures[v] += n })
	if pid > 0 {
		s.vmRSS, _ = vmRSS(pid)
		s.udpDrops, _ = udpDrops(pid)
	}
	return s, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// sampler scrapes dnslb every sampleEvery for the whole soak.
type sampler struct {
	hc       *http.Client
	httpAddr netip.AddrPort
	pid      int
	perfPID  atomic.Int64 // dnsperf's, while it runs
	csv      io.Writer    // every sample, for a closer look

	mu        sync.Mutex
	samples   []sample
	errs      int
	perfDrops int64 // the most dnsperf's UDP sockets were seen to have dropped
}

const sampleEvery = 2 * time.Second

func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		sm, err := scrape(ctx, s.hc, s.httpAddr, s.pid)
		if over(ctx) {
			return
		}
		var perfDrops int64
		if pid := s.perfPID.Load(); pid > 0 {
			perfDrops, _ = udpDrops(int(pid))
		}
		s.mu.Lock()
		s.perfDrops = max(s.perfDrops, perfDrops)
		if err != nil {
			s.errs++
		} else {
			s.samples = append(s.samples, sm)
			if s.csv != nil {
				if len(s.samples) == 1 {
					fmt.Fprintln(s.csv, "seconds,rss,vmrss,heap_inuse,heap_idle,heap_released,stack_inuse,next_gc,goroutines,fds,dnslb_udp_drops,dnsperf_udp_drops")
				}
				fmt.Fprintf(s.csv, "%.1f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%d,%d\n", sm.at.Sub(s.samples[0].at).Seconds(),
					sm.rss, sm.vmRSS, sm.heap, sm.heapIdle, sm.released, sm.stack, sm.nextGC, sm.goroutines, sm.fds, sm.udpDrops, perfDrops)
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// latest is the last sample, if any.
func (s *sampler) latest() (sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return sample{}, false
	}
	return s.samples[len(s.samples)-1], true
}

// resources are the medians of a window of samples: single scrapes of a
// garbage-collected process jump with each GC cycle.
type resources struct {
	n                                 int
	rss, vmRSS, goroutines, fds, heap float64
}

// window summarizes the samples taken in [from, to).
func (s *sampler) window(from, to time.Time) resources {
	s.mu.Lock()
	defer s.mu.Unlock()
	var in []sample
	for _, sm := range s.samples {
		if !sm.at.Before(from) && sm.at.Before(to) {
			in = append(in, sm)
		}
	}
	med := func(f func(sample) float64) float64 {
		if len(in) == 0 {
			return 0
		}
		v := make([]float64, len(in))
		for i, sm := range in {
			v[i] = f(sm)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return resources{
		n:          len(in),
		rss:        med(func(s sample) float64 { return s.rss }),
		vmRSS:      med(func(s sample) float64 { return s.vmRSS }),
		goroutines: med(func(s sample) float64 { return s.goroutines }),
		fds:        med(func(s sample) float64 { return s.fds }),
		heap:       med(func(s sample) float64 { return s.heap }),
	}
}

// peak is the largest RSS sampled, with the number of samples and of
// failed scrapes.
func (s *sampler) peak() (rss float64, samples, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sm := range s.samples {
		rss = max(rss, sm.rss)
	}
	return rss, len(s.samples), s.errs
}

// perfDropsSeen is the most dnsperf's sockets were seen to have dropped.
func (s *sampler) perfDropsSeen() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perfDrops
}

// trend is the least-squares slope, per minute, of f over the samples taken
// from from on: a leak climbs steadily where GC cycles only saw.
func (s *sampler) trend(from time.Time, f func(sample) float64) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n, sx, sy, sxx, sxy float64
	for _, sm := range s.samples {
		if sm.at.Before(from) {
			continue
		}
		x, y := sm.at.Sub(from).Minutes(), f(sm)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	if n < 3 || n*sxx == sx*sx {
		return 0
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}
