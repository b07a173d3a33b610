package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A dnsperf 2.10 report with -S lines, losses and interruptions.
const perfOutput = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 5399 -d q -l 30 -Q 20000 -S 10
[Status] Sending queries (to 127.0.0.1:5399)
[Status] Started at: Tue Nov 24 07:41:27 2026
[Status] Stopping after 30.000000 seconds
1795506088.075182: 19998.780074
1795506098.075320: 18512.240519
1795506108.075320: 20000.000000
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         599000
  Queries completed:    598890 (99.98%)
  Queries lost:         10 (0.00%)
  Queries interrupted:  100 (0.02%)

  Response codes:       NOERROR 400000 (66.79%), SERVFAIL 3 (0.00%), NXDOMAIN 198887 (33.21%)
  Average packet size:  request 24, response 45
  Run time (s):         30.000172
  Queries per second:   19962.853399

  Average Latency (s):  0.000289 (min 0.000015, max 0.023288)
  Latency StdDev (s):   0.001136
`

func TestParsePerf(t *testing.T) {
	rep, err := parsePerf(strings.NewReader(perfOutput))
	if err != nil {
		t.Fatal(err)
	}
	want := perfReport{sent: 599000, completed: 598890, lost: 10, interrupted: 100, qps: 19962.853399, avgLatency: 0.000289, maxLatency: 0.023288, minIntervalQPS: 18512.240519, maxIntervalQPS: 20000}
	got := rep
	got.rcodes, got.intervals = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsePerf:\n got %+v\nwant %+v", got, want)
	}
	for code, n := range map[string]int64{"NOERROR": 400000, "SERVFAIL": 3, "NXDOMAIN": 198887} {
		if rep.rcodes[code] != n {
			t.Errorf("rcodes[%s] = %d, want %d", code, rep.rcodes[code], n)
		}
	}
	if len(rep.intervals) != 3 {
		t.Errorf("intervals = %v, want 3", rep.intervals)
	}
}

func TestParsePerfNoReport(t *testing.T) {
	rep, err := parsePerf(strings.NewReader("Error: could not open datafile\n"))
	if err != nil || rep.sent != 0 {
		t.Errorf("parsePerf = %+v, %v; want an empty report", rep, err)
	}
}

// TestQueryMix: the mix adds up to 100 and the file has that many lines.
func TestQueryMix(t *testing.T) {
	sum := 0
	for _, q := range queryMix {
		sum += q.per
	}
	if sum != 100 {
		t.Fatalf("queryMix adds up to %d, want 100", sum)
	}
	path := filepath.Join(t.TempDir(), "q")
	if err := writeQueries(path, rand.New(rand.NewPCG(1, 2))); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != queryLines {
		t.Errorf("%d lines, want %d", len(lines), queryLines)
	}
	for _, l := range lines {
		if strings.Contains(l, "%") || len(strings.Fields(l)) != 2 {
			t.Fatalf("bad query line %q", l)
		}
	}
}
