package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// queryMix is the dnsperf query file's make-up, in lines per 100; "%x"
// becomes a random label, so that NXDOMAIN answers cannot all come from
// dnslb's answer cache.
var queryMix = []struct {
	line string
	per  int
}{
	{"www.lb.soak A", 40},        // the pool
	{"api.lb.soak A", 4},         // CNAME to the pool
	{"www.lb.soak AAAA", 6},      // the pool has no IPv6 member: NODATA
	{"static.lb.soak A", 8},      // static records
	{"static.lb.soak AAAA", 8},   //
	{"version.lb.soak A", 4},     // the record each reload changes
	{"lb.soak SOA", 3},           //
	{"lb.soak NS", 3},            //
	{"lb.soak MX", 2},            //
	{"txt.lb.soak TXT", 4},       //
	{"nx-%x.lb.soak A", 10},      // NXDOMAIN
	{"nx-%x.lb.soak AAAA", 4},    //
	{"a.b.nothere.lb.soak A", 4}, //
}

// queryLines is the query file's length.
const queryLines = 10000

// writeQueries writes the dnsperf query file, shuffled.
func writeQueries(path string, rnd *rand.Rand) error {
	var lines []string
	for _, q := range queryMix {
		for range q.per * queryLines / 100 {
			l := q.line
			if strings.Contains(l, "%x") {
				l = fmt.Sprintf(l, rnd.Uint32())
			}
			lines = append(lines, l)
		}
	}
	rnd.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// perfOptions are dnsperf's settings.
type perfOptions struct {
	qps         int
	duration    time.Duration
	timeout     time.Duration // -t: a query unanswered for this long is lost
	clients     int           // -c
	outstanding int           // -q
	bufferKB    int           // -b: socket buffers; 0 = the system's default
}

func (o perfOptions) args(server, queries string) []string {
	host, port, _ := strings.Cut(server, ":")
	args := []string{
		"-s", host, "-p", port, "-a", host, "-d", queries,
		"-l", strconv.Itoa(int(o.duration.Seconds())),
		"-Q", strconv.Itoa(o.qps),
		"-t", strconv.FormatFloat(o.timeout.Seconds(), 'f', -1, 64),
		"-c", strconv.Itoa(o.clients),
		"-q", strconv.Itoa(o.outstanding),
		"-S", "10",
	}
	if o.bufferKB > 0 {
		args = append(args, "-b", strconv.Itoa(o.bufferKB))
	}
	return args
}

// runDnsperf runs dnsperf to its time limit, writing its output to log, and
// returns its report; started gets dnsperf's pid. An interrupted soak (abort
// done) stops it with SIGINT, after which it still prints its report.
func runDnsperf(abort context.Context, o perfOptions, server, queries string, log io.Writer, started func(pid int)) (perfReport, error) {
	cmd := exec.CommandContext(abort, "dnsperf", o.args(server, queries)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = o.timeout + 10*time.Second
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = log
	done := make(chan perfReport, 1)
	go func() {
		rep, _ := parsePerf(io.TeeReader(pr, log))
		io.Copy(io.Discard, pr)
		done <- rep
	}()
	err := cmd.Start()
	if err == nil {
		started(cmd.Process.Pid)
		err = cmd.Wait()
	}
	pw.Close()
	rep := <-done
	if err != nil {
		return rep, fmt.Errorf("dnsperf: %w", err)
	}
	if rep.sent == 0 {
		return rep, fmt.Errorf("dnsperf printed no report")
	}
	return rep, nil
}

// perfReport is what dnsperf's final statistics say.
type perfReport struct {
	sent, completed, lost, interrupted int64
	rcodes                             map[string]int64
	qps                                float64 // over the run
	avgLatency, maxLatency             float64 // seconds
	minIntervalQPS, maxIntervalQPS     float64 // of the -S lines (every 10 s) but the first
	intervals                          []float64
}

// parsePerf reads dnsperf's output.
func parsePerf(r io.Reader) (perfReport, error) {
	rep := perfReport{rcodes: map[string]int64{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		first := val
		if f := strings.Fields(val); len(f) > 0 {
			first = f[0]
		}
		switch key {
		case "Queries sent":
			rep.sent, _ = strconv.ParseInt(first, 10, 64)
		case "Queries completed":
			rep.completed, _ = strconv.ParseInt(first, 10, 64)
		case "Queries lost":
			rep.lost, _ = strconv.ParseInt(first, 10, 64)
		case "Queries interrupted":
			rep.interrupted, _ = strconv.ParseInt(first, 10, 64)
		case "Queries per second":
			rep.qps, _ = strconv.ParseFloat(first, 64)
		case "Response codes":
			// NOERROR 20000 (33.33%), NXDOMAIN 20000 (33.33%)
			for _, part := range strings.Split(val, ",") {
				f := strings.Fields(part)
				if len(f) >= 2 {
					n, _ := strconv.ParseInt(f[1], 10, 64)
					rep.rcodes[f[0]] += n
				}
			}
		case "Average Latency (s)":
			// 0.000289 (min 0.000015, max 0.023288)
			rep.avgLatency, _ = strconv.ParseFloat(first, 64)
			if _, m, ok := strings.Cut(val, "max "); ok {
				rep.maxLatency, _ = strconv.ParseFloat(strings.TrimSuffix(m, ")"), 64)
			}
		default:
			// -S lines: "1795506088.075182: 19998.780074"
			if _, err := strconv.ParseFloat(key, 64); err == nil {
				if q, err := strconv.ParseFloat(first, 64); err == nil {
					rep.intervals = append(rep.intervals, q)
				}
			}
		}
	}
	// dnsperf 2.10's first -S line may read ~0 although the totals show
	// the queries were sent: it is left out.
	if len(rep.intervals) > 1 {
		rest := rep.intervals[1:]
		rep.minIntervalQPS, rep.maxIntervalQPS = rest[0], rest[0]
		for _, q := range rest {
			rep.minIntervalQPS = min(rep.minIntervalQPS, q)
			rep.maxIntervalQPS = max(rep.maxIntervalQPS, q)
		}
	}
	return rep, sc.Err()
}
