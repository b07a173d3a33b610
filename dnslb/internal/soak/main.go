// Command dnslb-soak runs dnslb for a bounded time under dnsperf load while
// the pool's backends flap and the config is reloaded, then prints what went
// wrong: lost queries, SERVFAILs, answers listing a member down for longer
// than the detection time, empty answers, failed reloads, and the growth of
// dnslb's RSS and goroutines. It exits 1 when any of them is out of bounds.
//
//	go run ./dnslb/internal/soak -duration 10m     # or: make soak SOAK=10m
//
// Everything listens on loopback (127.0.0.0/8): dnslb on 127.0.0.1, one HTTP
// backend per member on 127.0.9.1-4. dnslb is built from ./cmd/dnslb and run
// as a subprocess. Everything stops by itself at the end, or on SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the flags.
type options struct {
	duration time.Duration
	warmup   time.Duration
	perf     perfOptions
	binary   string
	seed     uint64
	keep     bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("dnslb-soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "how long dnsperf sends queries, backends flap and the config is reloaded (at least 2m)")
	fs.DurationVar(&o.warmup, "warmup", time.Minute, "time under load before the starting RSS and goroutine counts are taken (at most a third of -duration)")
	fs.IntVar(&o.perf.qps, "qps", 20000, "dnsperf's query rate (-Q)")
	fs.DurationVar(&o.perf.timeout, "dnsperf-timeout", 5*time.Second, "dnsperf -t: a query unanswered for this long counts as lost")
	fs.IntVar(&o.perf.clients, "dnsperf-clients", 4, "dnsperf -c: UDP sockets to send from")
	fs.IntVar(&o.perf.outstanding, "dnsperf-outstanding", 2000, "dnsperf -q: queries in flight at most (its default of 100 caps the rate whenever latency passes 5 ms)")
	fs.IntVar(&o.perf.bufferKB, "dnsperf-buffer", 4096, "dnsperf -b: its sockets' buffers in KiB, as dnslb's own (0 = the system default, 208 KiB here: it overflows when dnsperf is descheduled for ~50 ms and the kernel drops answers dnslb sent)")
	fs.StringVar(&o.binary, "dnslb", "", "dnslb binary to soak (default: go build ./cmd/dnslb into the work dir)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the flap schedule and the query file (default: random; printed, to replay a run)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work dir (config, dnslb log, flap log, dnsperf output) even when the soak passes")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.duration < 2*time.Minute {
		// dnslb's RSS climbs for its first half minute or so under load:
		// a shorter soak would compare the climb's start with its end.
		return nil, fmt.Errorf("-duration %s: use at least 2m", o.duration)
	}
	o.duration = o.duration.Truncate(time.Second) // dnsperf -l takes whole seconds
	o.warmup = min(o.warmup, o.duration/3).Truncate(time.Second)
	o.perf.duration = o.duration
	if o.seed == 0 {
		o.seed = rand.Uint64()
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintln(stderr, "dnslb-soak:", err)
		}
		return 2
	}
	abort, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := soak(abort, o, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "dnslb-soak:", err)
		if res != nil {
			fmt.Fprintf(stderr, "work dir kept: %s\n", res.dir)
		}
		return 2
	}
	failures := res.print(stdout)
	switch {
	case len(failures) > 0:
		fmt.Fprintf(stdout, "\nwork dir kept: %s (dnslb.log, flaps.log, reloads.log, dnsperf.log, dnslb.toml)\n", res.dir)
		return 1
	case o.keep:
		fmt.Fprintf(stdout, "\nwork dir kept: %s\n", res.dir)
	default:
		os.RemoveAll(res.dir)
	}
	return 0
}

// soak sets everything up, runs the load, the flaps, the reloads and the
// checker for o.duration, stops everything and returns what it saw. An error
// means the soak could not run, not that dnslb failed it.
func soak(abort context.Context, o *options, out io.Writer) (*result, error) {
	if _, err := exec.LookPath("dnsperf"); err != nil {
		return nil, fmt.Errorf("dnsperf not found: apt-get install dnsperf (make soak does)")
	}
	dir, err := os.MkdirTemp("", "dnslb-soak-")
	if err != nil {
		return nil, err
	}
	res := &result{dir: dir, opts: o}
	fail := func(err error) (*result, error) { return res, err }
	rnd := rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))

	s, err := newSetup(dir)
	if err != nil {
		return fail(err)
	}
	res.setup = s
	backends, port, err := startBackends(s.members)
	if err != nil {
		return fail(err)
	}
	defer func() {
		for _, b := range backends {
			b.Close()
		}
	}()
	s.backendPort = port
	if err := s.write(variants[0]); err != nil {
		return fail(err)
	}
	queries := filepath.Join(dir, "queries.txt")
	if err := writeQueries(queries, rnd); err != nil {
		return fail(err)
	}
	bin := o.binary
	if bin == "" {
		fmt.Fprintln(out, "building ./cmd/dnslb …")
		if bin, err = buildDnslb(abort, dir); err != nil {
			return fail(err)
		}
	}
	printPlan(out, o, s, bin, dir)

	flapLog, err := os.Create(filepath.Join(dir, "flaps.log"))
	if err != nil {
		return fail(err)
	}
	defer flapLog.Close()
	reloadLog, err := os.Create(filepath.Join(dir, "reloads.log"))
	if err != nil {
		return fail(err)
	}
	defer reloadLog.Close()
	perfLog, err := os.Create(filepath.Join(dir, "dnsperf.log"))
	if err != nil {
		return fail(err)
	}
	defer perfLog.Close()
	csv, err := os.Create(filepath.Join(dir, "resources.csv"))
	if err != nil {
		return fail(err)
	}
	defer csv.Close()

	proc, err := startDnslb(bin, s.cfgPath, filepath.Join(dir, "dnslb.log"))
	if err != nil {
		return fail(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			proc.stop(5 * time.Second)
		}
	}()
	hc := &http.Client{Timeout: 5 * time.Second}
	if err := proc.waitReady(abort, hc, s.httpAddr, 15*time.Second); err != nil {
		return fail(fmt.Errorf("%w (log: %s)", err, filepath.Join(dir, "dnslb.log")))
	}
	if err := waitAllServed(abort, s, 10*time.Second); err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "dnslb pid %d ready; soaking for %s (until %s)\n\n", proc.pid(), o.duration, time.Now().Add(o.duration).Format(time.TimeOnly))

	res.udpBefore, _ = udpCounters()
	t0 := time.Now()
	res.start = t0
	tl := testutil.NewTimeline(len(s.members), t0)
	runCtx, cancel := context.WithDeadline(abort, t0.Add(o.duration))
	defer cancel()

	res.sampler = &sampler{hc: hc, httpAddr: s.httpAddr, pid: proc.pid(), csv: csv}
	members := s.members[:]
	res.checker = &checker{server: s.dnsAddr, members: members, judge: testutil.NewJudge(tl, len(members), s.detection(), s.riseDetection())}
	res.flapper = &flapper{backends: backends, tl: tl, rnd: rnd, log: flapLog}
	res.reloader = &reloader{s: s, proc: proc.cmd.Process, http: hc, log: reloadLog, tl: tl}
	res.tl = tl

	var wg sync.WaitGroup
	wg.Go(func() { res.sampler.run(runCtx) })
	wg.Go(func() { res.checker.run(runCtx) })
	wg.Go(func() { res.flapper.run(runCtx) })
	wg.Go(func() { res.reloader.run(runCtx) })
	wg.Go(func() { progress(runCtx, out, res) })

	// dnsperf stops at its own time limit; the watchdog is for a dnsperf
	// that does not.
	perfCtx, perfCancel := context.WithDeadline(abort, t0.Add(o.duration+o.perf.timeout+30*time.Second))
	defer perfCancel()
	res.perf, res.perfErr = runDnsperf(perfCtx, o.perf, s.dnsAddr.String(), queries, perfLog, func(pid int) { res.sampler.perfPID.Store(int64(pid)) })
	res.sampler.perfPID.Store(0)
	res.perfEnd = time.Now()
	<-runCtx.Done()
	wg.Wait()
	res.end = time.Now()
	res.aborted = abort.Err() != nil

	res.final, res.finalErr = scrape(context.Background(), hc, s.httpAddr, proc.pid())
	res.ownQueries = ownQueries.Load()
	res.udpAfter, _ = udpCounters()
	stopped = true
	res.stopTook, res.stopErr = proc.stop(15 * time.Second)
	res.logCounts, res.logErrors = scanLog(filepath.Join(dir, "dnslb.log"))
	return res, nil
}

// waitAllServed waits until the pool's answer lists all four members, as it
// should with every backend up.
func waitAllServed(ctx context.Context, s *setup, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		n, err := countMembers(ctx, s)
		if err == nil && n == len(s.members) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s does not list all %d members before the soak (got %d, %v)", poolName, len(s.members), n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// progress prints a line every 30 s, from the checker's counts and dnslb's
// own metrics.
func progress(ctx context.Context, out io.Writer, res *result) {
	every(ctx, func() time.Duration { return 30 * time.Second }, func() {
		c := res.checker.stats()
		line := fmt.Sprintf("%7s  checker %d q, %d stale, %d empty, %d timeouts, %d SERVFAIL | flaps %d, %d down now",
			time.Since(res.start).Truncate(time.Second), c.queries, c.stale, c.empty, c.timeouts, c.servfail,
			res.tl.Flaps(), downNow(res.flapper.backends))
		if sm, ok := res.sampler.latest(); ok {
			line += fmt.Sprintf(" | reloads %d ok %d failed | RSS %s, %d goroutines, %d fds",
				int(sm.reloadOK), int(sm.reloadKO), mb(sm.rss), int(sm.goroutines), int(sm.fds))
		}
		fmt.Fprintln(out, line)
	})
}

func downNow(bs []*backend) int {
	n := 0
	for _, b := range bs {
		if !b.isUp() {
			n++
		}
	}
	return n
}

func printPlan(out io.Writer, o *options, s *setup, bin, dir string) {
	p := o.perf
	var mix []string
	for _, q := range queryMix {
		mix = append(mix, fmt.Sprintf("%d%% %s", q.per, strings.ReplaceAll(q.line, "%x", "<random>")))
	}
	fmt.Fprintf(out, `dnslb soak: %s at %d q/s, seed %d
  work dir    %s
  dnslb       %s -config dnslb.toml: DNS %s (UDP+TCP), HTTP %s, admin token in admin.token
  zone        %s inline records: SOA, NS, MX, static A/AAAA, TXT, CNAME api -> www, marker %s
  pool        %s: 4 members %s-%d, answers = 0, ttl %d; policy weighted 4/3/2/1 (variant A) or round_robin (B)
  check       http GET %s on port %d of each member: interval %s, timeout %s, fall %d, rise %d
  stale after %s down = fall × interval + timeout + one interval of margin (jitter ±10%% of
              each interval, and probes scheduled on two cores dnsperf keeps busy)
  flaps       one backend every %s-%s: a running one stops (refuse 50%%, 503 25%%, hang 25%%),
              a stopped one restarts; never all four stopped
  reloads     every %s, variant A <-> B (marker, SOA serial, policy, weights), POST /api/v1/reload
              and SIGHUP in turn; ok when the new marker is served within 3s
  checker     %s A every %s over UDP, timeout %s
  dnsperf     -Q %d -l %d -c %d -q %d -t %s -b %d over %d queries: %s
  resources   /metrics every %s; start = medians over [%s, %s), end = medians over the last %s
`,
		o.duration, p.qps, o.seed, dir, bin, s.dnsAddr, s.httpAddr,
		zoneOrigin, markerName,
		poolName, s.members[0], s.members[3].As4()[3], s.ttl,
		checkPath, s.backendPort, s.interval, s.timeout, s.fall, s.rise,
		s.detection(),
		minFlap, maxFlap,
		reloadEvery,
		poolName, checkEvery, checkTimeout,
		p.qps, int(p.duration.Seconds()), p.clients, p.outstanding, p.timeout, p.bufferKB, queryLines, strings.Join(mix, ", "),
		sampleEvery, o.warmup, o.warmup+resourceWindow(o), resourceWindow(o),
	)
}

// resourceWindow is how long the start and end resource figures are
// sampled over: the first and the last third of the time after warm-up, two
// minutes at most. dnslb's RSS climbs for about a minute under load (heap
// and goroutine stacks reaching their working size), then moves between
// about 21.5 and 24.5 MB for minutes at a time as the GC pacer settles on
// one heap goal or another; the median of a long window compares like with
// like, where a 30-second one could compare one level with the other.
func resourceWindow(o *options) time.Duration {
	return min(2*time.Minute, (o.duration-o.warmup)/3).Truncate(time.Second)
}

func mb(b float64) string { return fmt.Sprintf("%.1f MB", b/(1<<20)) }
