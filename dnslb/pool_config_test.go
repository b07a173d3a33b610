package dnslb

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// poolErrorZone is a zone with a static address, a CNAME and a delegation.
const poolErrorZone = `[[zone]]
origin = "lb.test."
records = [
  "@ 300 IN SOA ns1 hostmaster 1 3600 600 604800 60",
  "@ 300 IN NS ns1",
  "ns1 300 IN A 192.0.2.1",
  "static 300 IN A 192.0.2.9",
  "static6 300 IN AAAA 2001:db8::9",
  "alias 300 IN CNAME static",
  "sub 300 IN NS ns.sub",
  "ns.sub 300 IN A 192.0.2.53",
]
`

// TestPoolConfigErrors: a pool that cannot answer where it is put is
// refused, with the file and line of the record or pool at fault.
func TestPoolConfigErrors(t *testing.T) {
	pool := func(name, extra string) string {
		return "[[pool]]\nname = \"" + name + "\"\n" + extra + "members = [{ address = \"192.0.2.10\" }, { address = \"2001:db8::10\" }]\n"
	}
	tests := []struct {
		name string
		toml string
		want []string // each must appear in the error; none = accepted
	}{
		{"pool and zone A at one name", poolErrorZone + pool("static.lb.test.", ""),
			[]string{"c.toml:7: static.lb.test. has A records in the zone and a pool for A"}},
		{"pool and zone AAAA at one name", poolErrorZone + pool("static6.lb.test.", ""),
			[]string{"c.toml:8: static6.lb.test. has AAAA records in the zone and a pool for AAAA"}},
		{"a pool beside a zone type it does not serve", poolErrorZone + "[[pool]]\nname = \"static6.lb.test.\"\nmembers = [{ address = \"192.0.2.10\" }]\n", nil},
		{"pool at a CNAME", poolErrorZone + pool("alias.lb.test.", ""), []string{"alias.lb.test. is a CNAME and cannot also be a pool"}},
		{"pool outside every zone", poolErrorZone + pool("www.other.test.", ""),
			[]string{"c.toml:14: pool[0].name: www.other.test. is in no configured zone"}},
		{"pool below a delegation", poolErrorZone + pool("www.sub.lb.test.", ""),
			[]string{"www.sub.lb.test. A is at or below the delegation to another server", "www.sub.lb.test. AAAA is at or below"}},
		{"pool at a delegation", poolErrorZone + pool("sub.lb.test.", ""), []string{"sub.lb.test. A is at or below the delegation"}},
		{"pool at the apex", poolErrorZone + pool("lb.test.", ""), nil},
		{"two pools at one name", poolErrorZone + pool("www.lb.test.", "") + pool("WWW.lb.test.", ""), []string{"c.toml:17: pool[1].name: pool www.lb.test. is defined twice"}},
		{"when_all_down names no pool", poolErrorZone + pool("www.lb.test.", "when_all_down = \"pool:nope.lb.test.\"\n"), []string{`pool[0].when_all_down: "pool:nope.lb.test." names no pool`}},
		{"when_all_down itself", poolErrorZone + pool("www.lb.test.", "when_all_down = \"pool:www.lb.test.\"\n"), []string{"a pool cannot fall back to itself"}},
		{"when_all_down value", poolErrorZone + pool("www.lb.test.", "when_all_down = \"some\"\n"), []string{`"some": use "all", "none" or "pool:<name>"`}},
		{"negative answers", poolErrorZone + pool("www.lb.test.", "answers = -1\n"), []string{"pool[0].answers: -1"}},
		{"min_ttl over ttl", poolErrorZone + pool("www.lb.test.", "ttl = 10\nmin_ttl = 20\n"), []string{"pool[0].min_ttl: 20: use 0 up to the pool's ttl (10)"}},
		{"hash prefix", poolErrorZone + pool("www.lb.test.", "policy = \"hash\"\nhash_prefix_v4 = 33\n"), []string{"pool[0].hash_prefix_v4: 33: use 1-32"}},
		{"negative weight", poolErrorZone + "[[pool]]\nname = \"www.lb.test.\"\nmembers = [{ address = \"192.0.2.10\", weight = -1 }]\n", []string{"pool[0].members[0].weight: -1"}},
		{"a pool too large for a DNS message", poolErrorZone + manyMembers("www.lb.test.", "", 4100, 0), []string{"c.toml:15: pool[0].members: 4100 IPv4 members, all in one answer (answers = 0), would not fit in a DNS message (65535 bytes): set answers to at most 4091"}},
		{"answers too large for a DNS message", poolErrorZone + manyMembers("www.lb.test.", "answers = 2500\n", 0, 2500), []string{"pool[0].answers: 2500: answers of 2500 IPv6 members would not fit"}},
		{"a large pool with answers", poolErrorZone + manyMembers("www.lb.test.", "answers = 8\n", 5000, 0), nil},
		{"the largest pool", poolErrorZone + manyMembers("www.lb.test.", "", 4091, 2338), nil},
		{"pool below a DNAME", strings.Replace(poolErrorZone, `"sub 300`, `"old 300 IN DNAME lb.test.", "sub 300`, 1) + pool("www.old.lb.test.", ""),
			[]string{"c.toml:14: www.old.lb.test. A is below the DNAME at old.lb.test."}},
		{"policy least_load", poolErrorZone + pool("www.lb.test.", "policy = \"least_load\"\n"), nil},
		{"watermarks", poolErrorZone + pool("www.lb.test.", "policy = \"least_load\"\nload_low = 0\nload_high = 0.8\nfast_return = true\n"), nil},
		{"watermarks on another policy", poolErrorZone + pool("www.lb.test.", "policy = \"fastest\"\nload_high = 80\n"),
			[]string{`pool[0].load_high: only policy = "least_load" uses load_low and load_high`}},
		{"one watermark", poolErrorZone + pool("www.lb.test.", "policy = \"least_load\"\nload_low = 50\n"),
			[]string{"pool[0].load_low: set both load_low and load_high, e.g. load_low = 50, load_high = 100"}},
		{"watermarks reversed", poolErrorZone + pool("www.lb.test.", "policy = \"least_load\"\nload_low = 50\nload_high = 50\n"),
			[]string{"pool[0].load_high: 50: use more than load_low (50)"}},
		{"negative watermark", poolErrorZone + pool("www.lb.test.", "policy = \"least_load\"\nload_low = -1\nload_high = 5\n"),
			[]string{"pool[0].load_low: -1: use 0 or more"}},
		{"watermark not a number", poolErrorZone + pool("www.lb.test.", "policy = \"least_load\"\nload_low = 1\nload_high = inf\n"),
			[]string{"pool[0].load_low: use plain numbers, not nan or inf"}},
		{"fast_return is a boolean", poolErrorZone + pool("www.lb.test.", "fast_return = \"yes\"\n"), []string{"fast_return"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := testutil.WriteFiles(t, map[string]string{"c.toml": tc.toml})
			err := Check(filepath.Join(dir, "c.toml"))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error:\n%s\ndoes not contain %q", msg, w)
				}
			}
		})
	}
}

// manyMembers is a pool of n4 IPv4 and n6 IPv6 members.
func manyMembers(name, extra string, n4, n6 int) string {
	var b strings.Builder
	b.WriteString("[[pool]]\nname = \"" + name + "\"\n" + extra + "members = [\n")
	for i := range n4 {
		fmt.Fprintf(&b, "{ address = \"10.%d.%d.%d\" },\n", i>>16&0xff, i>>8&0xff, i&0xff)
	}
	for i := range n6 {
		fmt.Fprintf(&b, "{ address = \"2001:db8::%x\" },\n", i+1)
	}
	b.WriteString("]\n")
	return b.String()
}
