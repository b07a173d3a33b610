package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTransferConfig: transfer rules and notify targets are read, and
// their errors carry file and line and say what is valid.
func TestTransferConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.key"), []byte("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.toml")
	good := "[tsig.xfr]\nsecret_file = \"x.key\"\n" + updZoneConf +
		"transfer = [{ key = \"xfr\" }, { addresses = [\"192.0.2.0/24\", \"2001:db8::53\"] }]\nnotify = [\"192.0.2.53:5353\", \"192.0.2.54\", \"[2001:db8::1]:53\"]\nnotify_interval = \"250ms\"\n"
	c, err := Parse(path, []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	z := c.Zones[0]
	if len(z.Transfer) != 2 || z.Transfer[0].Key != "xfr." || len(z.Transfer[1].Prefixes) != 2 {
		t.Fatalf("transfer = %+v", z.Transfer)
	}
	wantNotify := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:5353"), netip.MustParseAddrPort("192.0.2.54:53"), netip.MustParseAddrPort("[2001:db8::1]:53")}
	if len(z.Notify) != 3 || z.Notify[0] != wantNotify[0] || z.Notify[1] != wantNotify[1] || z.Notify[2] != wantNotify[2] {
		t.Fatalf("notify = %v", z.Notify)
	}
	if z.NotifyInterval != 250*time.Millisecond || z.SerialFile != filepath.Join(dir, "example.serial") {
		t.Fatalf("interval %v serial file %q", z.NotifyInterval, z.SerialFile)
	}
	for _, tc := range []struct {
		ip, key string
		rule    int
		want    bool
	}{
		{"192.0.2.9", "", 1, true}, {"198.51.100.1", "", 1, false}, {"2001:db8::53", "", 1, true},
		{"::ffff:192.0.2.9", "", 1, true}, {"198.51.100.1", "xfr.", 0, true}, {"198.51.100.1", "", 0, false}, {"198.51.100.1", "other.", 0, false},
	} {
		if got := z.Transfer[tc.rule].Allows(netip.MustParseAddr(tc.ip), tc.key); got != tc.want {
			t.Errorf("rule %d allows(%s, %q) = %v", tc.rule, tc.ip, tc.key, got)
		}
	}
	if c, err := Parse(path, []byte(updZoneConf)); err != nil || c.Zones[0].NotifyInterval != time.Second || c.Zones[0].SerialFile != "" {
		t.Fatalf("defaults: %v %+v", err, c)
	}
	for _, tc := range []struct {
		name, toml string
		want       []string
	}{
		{"empty rule", updZoneConf + "transfer = [{}]\n", []string{":5: zone[0].transfer[0]: give key"}},
		{"unknown key", updZoneConf + "transfer = [{ key = \"nope\" }]\n", []string{":5: zone[0].transfer[0].key: \"nope\" is not a [tsig.NAME] key"}},
		{"bad prefix", updZoneConf + "transfer = [{ addresses = [\"192.0.2.0/33\"] }]\n", []string{":5: zone[0].transfer[0].addresses[0]: \"192.0.2.0/33\" is not an address or prefix"}},
		{"bad notify", updZoneConf + "notify = [\"192.0.2.1:0\", \"ns1\"]\n", []string{":5: zone[0].notify[0]:", "zone[0].notify[1]: \"ns1\" is not an address"}},
		{"bad interval", updZoneConf + "notify_interval = \"0s\"\n", []string{":5: zone[0].notify_interval: 0s: use a positive duration"}},
		{"signed online", updZoneConf + "notify = [\"192.0.2.1\"]\n[zone.dnssec]\nkey_dir = \"k\"\n", []string{"zone[0].transfer: a zone signed online ([zone.dnssec]) cannot be transferred yet"}},
		{"near miss", updZoneConf + "transfer = [{ adresses = [\"192.0.2.1\"] }]\n", []string{`unknown key "zone.transfer.adresses" (did you mean "addresses"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(path, []byte(tc.toml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\ndoes not contain %q", err, w)
				}
			}
		})
	}
}
