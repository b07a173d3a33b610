package dnslb

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

const optionsConfig = `[server]
listen = ["127.0.0.1:0"]
http = ""
[[zone]]
origin = "example."
records = ["@ 60 IN SOA ns1 hm 1 2 3 4 5", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
`

// TestOptionsRegistry: the metrics go to the registry given; a second
// server on the same registry is refused with an error, not a panic.
func TestOptionsRegistry(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": optionsConfig})
	reg := prometheus.NewRegistry()
	ts := start(t, filepath.Join(dir, "dnslb.toml"), Options{Registry: reg})
	ts.ask(t, "udp", "example.", 6)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "dnslb_queries_total"
	}
	if !found {
		t.Fatalf("dnslb_queries_total not in the registry given")
	}
	_, err = New(filepath.Join(dir, "dnslb.toml"), Options{Registry: reg, LogOutput: testutil.LogWriter{T: t}})
	if err == nil || !strings.Contains(err.Error(), "give each server its own") {
		t.Fatalf("second server on one registry: %v", err)
	}
}

// TestOptionsCacheSize: the answer cache has the size asked for, rounded
// up to a power of two, and keeps it across reloads.
func TestOptionsCacheSize(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": optionsConfig})
	ts := start(t, filepath.Join(dir, "dnslb.toml"), Options{CacheSize: 100})
	if n := len(ts.snap.Load().cache.slots); n != 128 {
		t.Errorf("cache of %d answers, want 128", n)
	}
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := len(ts.snap.Load().cache.slots); n != 128 {
		t.Errorf("after a reload: cache of %d answers, want 128", n)
	}
}
