package dnslb

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Query counters are kept per worker, in plain arrays of atomics the
// collector sums when Prometheus scrapes: the query path never touches a
// label map or a lock, and workers never share a cache line.

// qtypeLabels are the query types counted on their own; others are "other".
var qtypeLabels = [...]string{"A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SRV", "NAPTR", "DS", "DNSKEY", "SVCB", "HTTPS", "CAA", "ANY", "other"}

// rcodeLabels likewise for response codes.
var rcodeLabels = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "other"}

var transportLabels = [2]string{"udp", "tcp"}

var qtypeIndex = func() map[uint16]int {
	m := map[uint16]int{}
	for i, l := range qtypeLabels[:len(qtypeLabels)-1] {
		m[dns.StringToType[l]] = i
	}
	return m
}()

var qtypeSmall = func() (t [256]uint8) {
	for i := range t {
		t[i] = uint8(len(qtypeLabels) - 1)
	}
	for qt, i := range qtypeIndex {
		if qt < 256 {
			t[qt] = uint8(i)
		}
	}
	return t
}()

func qtypeBucket(t uint16) int {
	if t < 256 {
		return int(qtypeSmall[t])
	}
	if i, ok := qtypeIndex[t]; ok {
		return i
	}
	return len(qtypeLabels) - 1
}

// rcodeIndex maps a response code to its label's index. (Not through
// dns.StringToRcode: it has no "BADVERS", which shares 16 with BADSIG.)
var rcodeIndex = func() map[int]int {
	codes := [len(rcodeLabels) - 1]int{dns.RcodeSuccess, dns.RcodeFormatError, dns.RcodeServerFailure, dns.RcodeNameError, dns.RcodeNotImplemented, dns.RcodeRefused, dns.RcodeBadVers}
	m := map[int]int{}
	for i, c := range codes {
		m[c] = i
	}
	return m
}()

// rcodeSmall is rcodeIndex as a table, for the rcodes one octet holds.
var rcodeSmall = func() (t [256]uint8) {
	for i := range t {
		t[i] = uint8(len(rcodeLabels) - 1)
	}
	for r, i := range rcodeIndex {
		t[r] = uint8(i)
	}
	return t
}()

func rcodeBucket(r int) int {
	if uint(r) < uint(len(rcodeSmall)) {
		return int(rcodeSmall[r])
	}
	return len(rcodeLabels) - 1
}

// zoneCounters counts the responses of one zone by qtype, rcode and
// transport. Its sizes are the label lists' lengths: a label added to a list
// gets its counter.
type zoneCounters [len(qtypeLabels)][len(rcodeLabels)][len(transportLabels)]atomic.Uint64

// zoneTotals is zoneCounters summed over workers.
type zoneTotals [len(qtypeLabels)][len(rcodeLabels)][len(transportLabels)]uint64

// sizeBuckets are the upper bounds of the response size histogram.
var sizeBuckets = [...]float64{64, 128, 256, 512, 1024, 1232, 2048, 4096, 16384, 65535}

// durationBuckets (seconds) of the request duration histogram.
var durationBuckets = [...]float64{1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 500e-6, 1e-3, 10e-3}

// durationSample: one query in this many is timed; reading the clock twice
// per query would cost more than answering it.
const durationSample = 16

// maxZoneSlots bounds the zones counted on their own; more share the last.
const maxZoneSlots = 4096

// workerStats are one worker's counters.
type workerStats struct {
	zones      [maxZoneSlots]atomic.Pointer[zoneCounters]
	sizes      [len(transportLabels)][len(sizeBuckets) + 1]atomic.Uint64 // by transport, by size bucket (+Inf last)
	sizeSum    [len(transportLabels)]atomic.Uint64
	truncated  [len(transportLabels)]atomic.Uint64
	durations  [len(durationBuckets) + 1]atomic.Uint64 // sampled, by bucket (+Inf last)
	durSum     atomic.Uint64                           // nanoseconds
	panics     atomic.Uint64
	dropped    atomic.Uint64 // malformed beyond answering, not a query, or from a reflecting port
	rrlDrops   atomic.Uint64
	rrlSlips   atomic.Uint64
	readErrors atomic.Uint64 // UDP reads that failed (not the wake-up timeout)
	pauses     atomic.Uint64 // UDP coalescing pauses ([server] udp_coalesce)
	paths      [len(pathLabels)]atomic.Uint64
	cookies    [len(cookieLabels)]atomic.Uint64 // by cookieState
}

// How a query's answer was made: from the answer cache, synthesized from
// wire pieces (synth.go), or by the general path.
const (
	pathCache = iota
	pathSynth
	pathGeneral
)

var (
	pathLabels   = [...]string{pathCache: "cache", pathSynth: "synthesized", pathGeneral: "general"}
	cookieLabels = [...]string{cookieNone: "none", cookieClient: "client_only", cookieBad: "bad", cookieValid: "good"}
)

func (s *workerStats) count(tcp bool, zone int, qtype uint16, rcode, size int, truncated bool) {
	t := 0
	if tcp {
		t = 1
	}
	zc := s.zones[zone].Load()
	if zc == nil {
		zc = new(zoneCounters)
		if !s.zones[zone].CompareAndSwap(nil, zc) {
			zc = s.zones[zone].Load()
		}
	}
	zc[qtypeBucket(qtype)][rcodeBucket(rcode)][t].Add(1)
	b := 0
	for b < len(sizeBuckets) && float64(size) > sizeBuckets[b] {
		b++
	}
	s.sizes[t][b].Add(1)
	s.sizeSum[t].Add(uint64(size))
	if truncated {
		s.truncated[t].Add(1)
	}
}

func (s *workerStats) observeDuration(ns int64) {
	sec := float64(ns) / 1e9
	b := 0
	for b < len(durationBuckets) && sec > durationBuckets[b] {
		b++
	}
	s.durations[b].Add(1)
	s.durSum.Add(uint64(ns))
}

// zoneSlots gives each zone origin a stable counter index for the life of
// the process, so that counters survive reloads. Index 0 is "no zone".
type zoneSlots struct {
	mu    sync.Mutex
	index map[string]int
	names []string
}

func newZoneSlots() *zoneSlots {
	return &zoneSlots{index: map[string]int{"": 0}, names: []string{""}}
}

func (z *zoneSlots) slot(origin string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	if i, ok := z.index[origin]; ok {
		return i
	}
	if len(z.names) == maxZoneSlots-1 {
		origin = "other" // bounded cardinality: further zones share one slot
		if i, ok := z.index[origin]; ok {
			return i
		}
	}
	i := len(z.names)
	z.index[origin] = i
	z.names = append(z.names, origin)
	return i
}

func (z *zoneSlots) all() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]string(nil), z.names...)
}

var processStart = time.Now()

// nanotime is a monotonic clock reading in nanoseconds.
func nanotime() int64 { return int64(time.Since(processStart)) }
