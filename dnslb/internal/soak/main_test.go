package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		warmup, window time.Duration
	}{
		{[]string{}, time.Minute, 2 * time.Minute},
		{[]string{"-duration", "3m"}, time.Minute, 40 * time.Second},
		{[]string{"-duration", "2m"}, 40 * time.Second, 26 * time.Second},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if o.warmup != tc.warmup || resourceWindow(o) != tc.window {
			t.Errorf("%v: warm-up %s, window %s; want %s, %s", tc.args, o.warmup, resourceWindow(o), tc.warmup, tc.window)
		}
	}
	for _, args := range [][]string{{"-duration", "90s"}, {"extra"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestSummaryCriteria: the summary opens with a table of every pass/fail
// criterion, its bound, what was measured and the verdict; a stale answer
// and resource growth fail the soak by name.
func TestSummaryCriteria(t *testing.T) {
	o, err := parseFlags([]string{"-duration", "2m"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSetup(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1e9, 0)
	tl := testutil.NewTimeline(4, start)
	tl.Record(0, false, modeRefuse.String(), start.Add(10*time.Second))
	res := &result{opts: o, setup: s, start: start, perfEnd: start.Add(o.duration), tl: tl,
		perf:     perfReport{sent: 1000, completed: 1000, rcodes: map[string]int64{"NOERROR": 1000}},
		sampler:  &sampler{},
		reloader: &reloader{ok: 3},
		flapper:  &flapper{},
	}
	res.checker = &checker{judge: testutil.NewJudge(tl, 4, s.detection(), s.riseDetection())}
	res.checker.judge.Answer(start.Add(time.Minute), []bool{true, true, true, true})
	// RSS and goroutines grew 20% between the windows judged.
	for _, at := range []time.Duration{o.warmup, o.duration - time.Second} {
		g := 100.0
		if at > o.warmup {
			g = 120
		}
		res.sampler.samples = append(res.sampler.samples, sample{at: start.Add(at), rss: g * 1e6, goroutines: g})
	}
	var out strings.Builder
	fails := res.print(&out)
	table := out.String()[:strings.Index(out.String(), "measured besides")]
	for _, want := range []string{"criterion", "passes when", "verdict", "lost queries (dnsperf)", "stale answers", "reloads", "stop on SIGTERM"} {
		if !strings.Contains(table, want) {
			t.Errorf("criteria table lacks %q:\n%s", want, table)
		}
	}
	for _, f := range []string{"stale answers", "RSS growth", "goroutine growth"} {
		if !slices.Contains(fails, f) {
			t.Errorf("%q did not fail; failed: %v\n%s", f, fails, out.String())
		}
	}
	if slices.Contains(fails, "lost queries (dnsperf)") || slices.Contains(fails, "reloads") {
		t.Errorf("failed: %v\n%s", fails, out.String())
	}
	rows := strings.Split(strings.TrimSpace(table[strings.Index(table, "criterion"):]), "\n")[1:]
	if len(rows) != len(res.criteria()) {
		t.Errorf("%d rows for %d criteria", len(rows), len(res.criteria()))
	}
	for _, l := range rows {
		if !strings.HasSuffix(l, "PASS") && !strings.HasSuffix(l, "FAIL") {
			t.Errorf("criterion without a verdict: %q", l)
		}
	}
}
