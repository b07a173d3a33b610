package dnslb

import (
	"reflect"
	"testing"

	"github.com/miekg/dns"
)

// TestCounterLabels: every label of each list has its own counter (the
// counter arrays are sized from the lists, so a label added cannot index
// out of range), and each qtype and rcode counts under its own label.
func TestCounterLabels(t *testing.T) {
	typ := reflect.TypeOf(zoneCounters{})
	if typ.Len() != len(qtypeLabels) || typ.Elem().Len() != len(rcodeLabels) || typ.Elem().Elem().Len() != len(transportLabels) {
		t.Fatalf("zoneCounters is %v for %d qtypes, %d rcodes, %d transports", typ, len(qtypeLabels), len(rcodeLabels), len(transportLabels))
	}
	for i, l := range qtypeLabels[:len(qtypeLabels)-1] {
		if got := qtypeBucket(dns.StringToType[l]); got != i {
			t.Errorf("qtype %s counted as %s", l, qtypeLabels[got])
		}
	}
	if got := qtypeBucket(dns.TypeNULL); got != len(qtypeLabels)-1 {
		t.Errorf("NULL counted as %s, want other", qtypeLabels[got])
	}
	for i, l := range rcodeLabels[:len(rcodeLabels)-1] {
		if got := rcodeBucket(rcodeCode(l)); got != i {
			t.Errorf("rcode %s counted as %s", l, rcodeLabels[got])
		}
	}
	if got := rcodeBucket(dns.RcodeYXDomain); got != len(rcodeLabels)-1 {
		t.Errorf("YXDOMAIN counted as %s, want other", rcodeLabels[got])
	}
	var st workerStats
	for q := range qtypeLabels[:len(qtypeLabels)-1] {
		for r := range rcodeLabels[:len(rcodeLabels)-1] {
			st.count(r%2 == 1, 1, dns.StringToType[qtypeLabels[q]], rcodeCode(rcodeLabels[r]), 100, false)
		}
	}
	zc := st.zones[1].Load()
	for q := range len(qtypeLabels) - 1 {
		for r := range len(rcodeLabels) - 1 {
			if zc[q][r][r%2].Load() != 1 {
				t.Errorf("%s %s not counted once", qtypeLabels[q], rcodeLabels[r])
			}
		}
	}
}

// rcodeCode is the code of an rcode label.
func rcodeCode(l string) int {
	if l == "BADVERS" {
		return dns.RcodeBadVers
	}
	return dns.StringToRcode[l]
}
