package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// growthLimit is the growth of RSS or goroutines, start to end, that fails
// the soak.
const growthLimit = 10.0 // percent

// result is everything a soak saw.
type result struct {
	dir   string
	opts  *options
	setup *setup

	start, end, perfEnd time.Time
	aborted             bool

	perf    perfReport
	perfErr error

	sampler  *sampler
	checker  *checker
	flapper  *flapper
	reloader *reloader
	tl       *testutil.Timeline

	final    sample // scraped after the load, before dnslb stops
	finalErr error

	udpBefore, udpAfter map[string]int64
	ownQueries          int64 // queries the soak itself sent dnslb

	stopTook time.Duration
	stopErr  error

	logCounts map[string]int // dnslb log lines by level
	logErrors []string       // the first ERROR and WARN lines
}

// criterion is one pass/fail judgement of the soak.
type criterion struct {
	name     string // what is judged
	passes   string // the bound that passes
	measured string
	ok       bool
}

// criteria judges the soak: every row passes or fails it.
func (r *result) criteria() []criterion {
	o, s, p, c, rl := r.opts, r.setup, r.perf, r.checker.stats(), r.reloader
	perfRan := "ran"
	if r.perfErr != nil {
		perfRan = r.perfErr.Error()
	}
	win := resourceWindow(o)
	st := r.sampler.window(r.start.Add(o.warmup), r.start.Add(o.warmup+win))
	en := r.sampler.window(r.start.Add(o.duration-win), r.start.Add(o.duration))
	sampled := st.n > 0 && en.n > 0
	stop := fmt.Sprintf("exit 0 after %s", r.stopTook.Truncate(time.Millisecond))
	if r.stopErr != nil {
		stop = fmt.Sprintf("%v after %s", r.stopErr, r.stopTook.Truncate(time.Millisecond))
	}
	return []criterion{
		{"ran to the end", "not interrupted", fmt.Sprint(o.duration), !r.aborted},
		{"dnsperf", "ran", perfRan, r.perfErr == nil},
		{"lost queries (dnsperf)", "0", fmt.Sprintf("%d of %d", p.lost, p.sent), p.lost == 0 && r.perfErr == nil},
		{"SERVFAIL (dnsperf)", "0", fmt.Sprint(p.rcodes["SERVFAIL"]), p.rcodes["SERVFAIL"] == 0},
		{"lost queries (checker)", "0 unanswered in " + checkTimeout.String(), fmt.Sprintf("%d of %d", c.timeouts, c.queries), c.timeouts == 0},
		{"SERVFAIL (checker)", "0", fmt.Sprint(c.servfail), c.servfail == 0},
		{"wrong answers (checker)", "0 other rcodes, socket errors, non-members", fmt.Sprint(c.otherRcode + c.errs + c.foreign), c.otherRcode+c.errs+c.foreign == 0},
		{"stale answers", "0 members served > " + s.detection().String() + " after going down", fmt.Sprintf("%d (longest %s)", c.stale, c.maxServedDown.Truncate(time.Millisecond)), c.stale == 0},
		{"empty answers", "0 while a member was up", fmt.Sprint(c.empty), c.empty == 0},
		{"reloads", "all served, at least one", fmt.Sprintf("%d ok, %d failed", rl.ok, rl.failed), rl.failed == 0 && rl.ok > 0},
		{"backend restarts", "0 failed", fmt.Sprint(len(r.flapper.errs)), len(r.flapper.errs) == 0},
		{"RSS growth", fmt.Sprintf("< %.0f%%, start to end", growthLimit), growth(st.rss, en.rss, mb), sampled && pctGrowth(st.rss, en.rss) < growthLimit},
		{"goroutine growth", fmt.Sprintf("< %.0f%%, start to end", growthLimit), growth(st.goroutines, en.goroutines, count), sampled && pctGrowth(st.goroutines, en.goroutines) < growthLimit},
		{"stop on SIGTERM", "exit 0", stop, r.stopErr == nil},
	}
}

// print writes the criteria table, then what was measured besides, and
// returns the failed criteria.
func (r *result) print(out io.Writer) []string {
	o, s := r.opts, r.setup
	c := r.checker.stats()
	p := r.perf

	fmt.Fprintf(out, "\ndnslb soak summary (seed %d)\n\n", o.seed)
	var fails []string
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  criterion\tpasses when\tmeasured\tverdict")
	for _, cr := range r.criteria() {
		verdict := "PASS"
		if !cr.ok {
			verdict = "FAIL"
			fails = append(fails, cr.name)
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", cr.name, cr.passes, cr.measured, verdict)
	}
	w.Flush()

	fmt.Fprintln(out, "\nmeasured besides (not judged)")
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row := func(name, value string) { fmt.Fprintf(w, "  %s\t%s\n", name, value) }
	row("duration", fmt.Sprintf("%s (dnsperf exited after %s, waiting -t for its last answers)", o.duration, r.perfEnd.Sub(r.start).Truncate(100*time.Millisecond)))
	row("dnsperf queries sent", fmt.Sprintf("%d (%.0f q/s; 10 s intervals %.0f-%.0f q/s; asked %d q/s)", p.sent, p.qps, p.minIntervalQPS, p.maxIntervalQPS, o.perf.qps))
	row("dnsperf queries completed", fmt.Sprintf("%d (%s)", p.completed, pct(p.completed, p.sent)))
	if p.interrupted > 0 {
		row("dnsperf queries interrupted", fmt.Sprintf("%d (in flight at the time limit; not lost)", p.interrupted))
	}
	row("dnsperf response codes", rcodes(p.rcodes))
	row("dnsperf latency", fmt.Sprintf("avg %.3f ms, max %.1f ms", p.avgLatency*1e3, p.maxLatency*1e3))
	row("checker queries", fmt.Sprintf("%d (%s A every %s, UDP)", c.queries, poolName, checkEvery))
	row("checker missing members", fmt.Sprintf("%d (a member up > %s left out; longest return seen %s)", c.missing, s.riseDetection(), c.maxReturn.Truncate(time.Millisecond)))
	row("checker TTLs", fmt.Sprintf("%d-%d s (pool ttl %d, shortened while health may change)", c.minTTL, c.maxTTL, s.ttl))
	rl := r.reloader
	row("reloads", fmt.Sprintf("%d via API, %d via SIGHUP, %d with a member marked down; slowest served after %s", rl.byAPI, rl.bySignal, rl.whileDown, rl.slowest.Truncate(time.Millisecond)))
	if r.finalErr == nil {
		row("reloads dnslb counted", fmt.Sprintf("%d success, %d failure", int(r.final.reloadOK), int(r.final.reloadKO)))
	}
	var downs = map[string]int{}
	ups := 0
	for _, cs := range r.tl.Changes() {
		for _, ch := range cs {
			if ch.Up {
				ups++
			} else {
				downs[ch.How]++
			}
		}
	}
	flaps := fmt.Sprintf("%d (down: %d refuse, %d 503, %d hang; up: %d)", r.tl.Flaps(), downs[modeRefuse.String()], downs[mode503.String()], downs[modeHang.String()], ups)
	if r.finalErr == nil {
		flaps += fmt.Sprintf("; dnslb saw %d down, %d up", int(r.final.toDown), int(r.final.toUp))
		row("failed probes by reason", rcodes(toInt(r.final.probeFailures)))
	}
	row("flaps", flaps)
	win := resourceWindow(o)
	st := r.sampler.window(r.start.Add(o.warmup), r.start.Add(o.warmup+win))
	en := r.sampler.window(r.start.Add(o.duration-win), r.start.Add(o.duration))
	row("RSS (/proc VmRSS)", growth(st.vmRSS, en.vmRSS, mb))
	row("heap in use", growth(st.heap, en.heap, mb))
	row("open fds", growth(st.fds, en.fds, count))
	from := r.start.Add(o.warmup)
	row("trend after warm-up", fmt.Sprintf("RSS %+.2f MB/min, heap in use %+.2f MB/min, goroutines %+.1f/min (least squares)",
		r.sampler.trend(from, func(s sample) float64 { return s.rss })/(1<<20),
		r.sampler.trend(from, func(s sample) float64 { return s.heap })/(1<<20),
		r.sampler.trend(from, func(s sample) float64 { return s.goroutines })))
	peak, n, errs := r.sampler.peak()
	row("RSS peak", fmt.Sprintf("%s (%d samples, %d failed scrapes)", mb(peak), n, errs))
	if r.finalErr != nil {
		row("dnslb /metrics at the end", r.finalErr.Error())
	} else {
		var answered int64
		for _, n := range r.final.rcodes {
			answered += int64(n)
		}
		sent := p.sent + r.ownQueries
		row("dnslb answered", fmt.Sprintf("%d of %d queries sent (dnsperf %d + soak's own %d): %+d (±1: a reload check cut short at the end); %d dropped, %d panics",
			answered, sent, p.sent, r.ownQueries, answered-sent, int(r.final.dropped), int(r.final.panics)))
		row("dnslb response codes", rcodes(toInt(r.final.rcodes)))
		last, _ := r.sampler.latest()
		row("UDP receive-buffer drops", fmt.Sprintf("dnslb's sockets %d, dnsperf's sockets %d (at least: sampled every %s)", last.udpDrops, r.sampler.perfDropsSeen(), sampleEvery))
	}
	row("kernel UDP (whole host)", udpDelta(r.udpBefore, r.udpAfter))
	row("dnslb log", fmt.Sprintf("%d ERROR, %d WARN, %d INFO lines", r.logCounts["ERROR"], r.logCounts["WARN"], r.logCounts["INFO"]))
	w.Flush()

	if len(c.examples) > 0 {
		fmt.Fprintln(out, "\nchecker faults (first of each kind):")
		for _, e := range c.examples {
			fmt.Fprintln(out, "  "+e)
		}
	}
	if len(rl.failures) > 0 {
		fmt.Fprintln(out, "\nreload failures:")
		for _, e := range rl.failures {
			fmt.Fprintln(out, "  "+e)
		}
	}
	for _, e := range r.flapper.errs {
		fmt.Fprintln(out, "  flap: "+e.Error())
	}
	if len(r.logErrors) > 0 {
		fmt.Fprintln(out, "\ndnslb ERROR/WARN lines (first few):")
		for _, e := range r.logErrors {
			fmt.Fprintln(out, "  "+e)
		}
	}
	if len(fails) == 0 {
		fmt.Fprintln(out, "\nPASS")
	} else {
		fmt.Fprintf(out, "\nFAIL: %s\n", strings.Join(fails, "; "))
	}
	return fails
}

func pct(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f%%", 100*float64(n)/float64(of))
}

func pctGrowth(from, to float64) float64 {
	if from == 0 {
		return 0
	}
	return 100 * (to - from) / from
}

func growth(from, to float64, f func(float64) string) string {
	if from == 0 && to == 0 {
		return "not sampled"
	}
	return fmt.Sprintf("%s -> %s (%+.1f%%)", f(from), f(to), pctGrowth(from, to))
}

func count(v float64) string { return fmt.Sprintf("%.0f", v) }

func rcodes(m map[string]int64) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func toInt(m map[string]float64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v > 0 {
			out[k] = int64(v)
		}
	}
	return out
}

// udpDelta reports the kernel's UDP error counters over the soak: datagrams
// dropped for a full socket buffer are lost queries that no server saw.
func udpDelta(before, after map[string]int64) string {
	if before == nil || after == nil {
		return "unreadable"
	}
	var parts []string
	for _, k := range []string{"InDatagrams", "InErrors", "RcvbufErrors", "SndbufErrors", "NoPorts"} {
		parts = append(parts, fmt.Sprintf("%s +%d", k, after[k]-before[k]))
	}
	return strings.Join(parts, ", ")
}

// scanLog counts dnslb's log lines by level and keeps the first ERROR and
// WARN lines.
func scanLog(path string) (map[string]int, []string) {
	counts := map[string]int{}
	var firsts []string
	f, err := os.Open(path)
	if err != nil {
		return counts, []string{err.Error()}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		_, rest, ok := strings.Cut(l, "level=")
		if !ok {
			continue
		}
		lv, _, _ := strings.Cut(rest, " ")
		counts[lv]++
		if (lv == "ERROR" || lv == "WARN") && len(firsts) < testutil.MaxExamples {
			firsts = append(firsts, l)
		}
	}
	return counts, firsts
}
