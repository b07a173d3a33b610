package dnslb

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// scrape reads /metrics and returns every sample as "name{k=v,...}" → value
// (histograms as name_count and name_sum).
func (ts *testServer) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(ts.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name + labelString(m.GetLabel())
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[name+"_count"+labelString(m.GetLabel())] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+labelString(m.GetLabel())] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func labelString(ls []*dto.LabelPair) string {
	if len(ls) == 0 {
		return ""
	}
	var parts []string
	for _, l := range ls {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// TestMetrics: after real queries, probes, a failure and reloads, the
// counters moved as they should.
func TestMetrics(t *testing.T) {
	hosts := []string{"127.0.6.1", "127.0.6.2"}
	bs, port := testutil.Backends(t, "tcp", hosts...)
	check := fmt.Sprintf("type = \"tcp\"\nport = %d\ninterval = \"200ms\"\ntimeout = \"100ms\"\nrise = 1\nfall = 1\n", port)
	dir := testutil.WriteFiles(t, map[string]string{
		"token":      testToken,
		"dnslb.toml": poolConfig("127.0.0.1:0", check, "round_robin", hosts, `admin_token_file = "token"`),
	})
	cfg := filepath.Join(dir, "dnslb.toml")
	ts := start(t, cfg, Options{})
	testutil.WaitFor(t, 20*time.Second, "first health round", ts.prober.FirstRoundDone)
	before := ts.scrape(t)
	const n = 40
	for range n {
		ts.ask(t, "udp", "www.lb.test.", dns.TypeA)
	}
	for range 5 {
		ts.ask(t, "tcp", "nope.lb.test.", dns.TypeA)
	}
	ts.ask(t, "udp", "www.other.", dns.TypeA)
	after := ts.scrape(t)
	delta := func(key string) float64 { return after[key] - before[key] }
	for key, want := range map[string]float64{
		"dnslb_queries_total{qtype=A,rcode=NOERROR,transport=udp,zone=lb.test.}":  n,
		"dnslb_queries_total{qtype=A,rcode=NXDOMAIN,transport=tcp,zone=lb.test.}": 5,
		"dnslb_queries_total{qtype=A,rcode=REFUSED,transport=udp,zone=}":          1,
		"dnslb_response_size_bytes_count{transport=udp}":                          n + 1,
		"dnslb_response_size_bytes_count{transport=tcp}":                          5,
		"dnslb_pool_answers_total{member=127.0.6.1,pool=www.lb.test.}":            n / 2,
		"dnslb_pool_answers_total{member=127.0.6.2,pool=www.lb.test.}":            n / 2,
	} {
		if got := delta(key); got != want {
			t.Errorf("%s moved by %v, want %v", key, got, want)
		}
	}
	for _, key := range []string{
		"dnslb_member_up{check=c,member=127.0.6.1,pool=www.lb.test.}",
		"dnslb_member_up{check=c,member=127.0.6.2,pool=www.lb.test.}",
		"dnslb_config_info{file=" + cfg + ",sha256=" + ts.snap.Load().cfg.Hash + "}",
	} {
		if after[key] != 1 {
			t.Errorf("%s = %v, want 1", key, after[key])
		}
	}
	if after["dnslb_health_probe_duration_seconds_count{check=c}"] < 2 {
		t.Errorf("probe durations not observed: %v", after["dnslb_health_probe_duration_seconds_count{check=c}"])
	}
	for _, key := range []string{"go_goroutines", "process_resident_memory_bytes", "dnslb_request_duration_seconds_count"} {
		if _, ok := after[key]; !ok {
			t.Errorf("%s missing", key)
		}
	}
	// A backend dies: a transition, failures by reason, member_up 0.
	bs[1].Stop()
	testutil.WaitFor(t, 20*time.Second, "member down in metrics", func() bool {
		return ts.scrape(t)["dnslb_member_up{check=c,member=127.0.6.2,pool=www.lb.test.}"] == 0
	})
	m := ts.scrape(t)
	if m["dnslb_health_transitions_total{check=c,to=down}"] < 1 {
		t.Error("no down transition counted")
	}
	if m["dnslb_health_probe_failures_total{check=c,reason=refused}"] < 1 {
		t.Errorf("no refused failure counted: %v", m)
	}
	// Reloads: one good, one bad.
	if code, body := ts.post(t, "/api/v1/reload", testToken, ""); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	good, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(good, []byte("\nbogus = 1\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _ := ts.post(t, "/api/v1/reload", testToken, ""); code != 422 {
		t.Fatalf("bad reload: %d, want 422", code)
	}
	m = ts.scrape(t)
	if m["dnslb_config_reloads_total{result=success}"] != 1 || m["dnslb_config_reloads_total{result=failure}"] != 1 {
		t.Errorf("reloads: success %v failure %v, want 1 and 1", m["dnslb_config_reloads_total{result=success}"], m["dnslb_config_reloads_total{result=failure}"])
	}
}

// TestMetricNames lints every metric we export: the dnslb_ prefix, base
// units, _total only on counters, help text; and no label that could take a
// query name or a client address.
func TestMetricNames(t *testing.T) {
	for _, extra := range []string{"", "[cluster]\nname = \"ns1\"\nbind = \"127.0.1.1:0\"\n"} {
		dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": extra + poolConfig("127.0.0.1:0", "type = \"none\"", "all", []string{"192.0.2.1"}, "")})
		ts := start(t, dir+"/dnslb.toml", Options{})
		ts.ask(t, "udp", "www.lb.test.", dns.TypeA)
		lintMetrics(t, ts)
		if m := ts.scrape(t); extra != "" && (m["dnslb_cluster_peers{state=alive}"] != 0 || m["dnslb_cluster_drift_peers"] != 0 || !hasKey(m, "dnslb_cluster_peers{state=dead}")) {
			t.Errorf("a lone cluster instance's metrics: %v", m)
		}
	}
}

func hasKey(m map[string]float64, k string) bool {
	_, ok := m[k]
	return ok
}

func lintMetrics(t *testing.T, ts *testServer) {
	fams, err := ts.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^dnslb_[a-z_]+$`)
	allowedLabels := map[string]bool{"zone": true, "qtype": true, "rcode": true, "transport": true, "pool": true, "member": true, "check": true, "reason": true, "to": true, "result": true, "file": true, "sha256": true, "version": true, "revision": true, "state": true, "how": true, "datacenter": true}
	for _, f := range fams {
		n := f.GetName()
		if strings.HasPrefix(n, "go_") || strings.HasPrefix(n, "process_") {
			continue
		}
		if !name.MatchString(n) {
			t.Errorf("%s: not dnslb_<name>", n)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s: no help", n)
		}
		isCounter := f.GetType() == dto.MetricType_COUNTER
		if isCounter != strings.HasSuffix(n, "_total") {
			t.Errorf("%s: _total must end counters and only counters", n)
		}
		if strings.Contains(n, "milliseconds") || strings.Contains(n, "_ms") || strings.Contains(n, "kilobytes") {
			t.Errorf("%s: use base units", n)
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !allowedLabels[l.GetName()] {
					t.Errorf("%s: label %q is not in the bounded set", n, l.GetName())
				}
			}
		}
	}
}
