package dnslb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartWithDamagedStateFile: the server starts despite a state file it
// cannot read, says so loudly, keeps the file aside, and -check warns
// beforehand; an override of a member later removed from the config is
// dropped at the reload, with a log line.
func TestStartWithDamagedStateFile(t *testing.T) {
	dir := adminConfig(t)
	cfg := filepath.Join(dir, "dnslb.toml")
	state := filepath.Join(dir, "state", "dnslb.state")
	if err := writeFile(state, `{"version": 1, "overrides": [{"pool": "www.lb.test.", "address": "192.0.2.12", "override": "drain"}, {"pool": "www.lb.test.", "address": "192.0.2.300", "override": "down"}, {"pool": "old.lb.test.", "address": "192.0.2.1", "override": "down"}]}`); err != nil {
		t.Fatal(err)
	}
	warnings := strings.Join(CheckState(cfg), "\n")
	for _, want := range []string{`address "192.0.2.300" is not an IP address`, "keep the file as " + state + ".corrupt-", "override down of pool old.lb.test. member 192.0.2.1: no such member in the config; dnslb would drop it"} {
		if !strings.Contains(warnings, want) {
			t.Errorf("-check warnings lack %q:\n%s", want, warnings)
		}
	}
	if err := Check(cfg); err != nil {
		t.Errorf("Check fails for a damaged state file (the server would start): %v", err)
	}

	ts := start(t, cfg, Options{})
	logs := ts.logs.String()
	for _, want := range []string{"STATE FILE DAMAGED", "override dropped: the member is no longer in the config", "pool=old.lb.test."} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	asides, _ := filepath.Glob(state + ".corrupt-*")
	if len(asides) != 1 {
		t.Errorf("damaged file kept as %v", asides)
	}
	if got := ts.members(t); strings.Contains(strings.Join(got, " "), "192.0.2.12") {
		t.Errorf("the readable drain was lost: %v served", got)
	}
	// Remove the drained member: its override goes too.
	b, _ := os.ReadFile(cfg)
	if err := writeFile(cfg, strings.Replace(string(b), `{ address = "192.0.2.12" }, `, "", 1)); err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ts.logs.String(), `msg="override dropped: the member is no longer in the config" pool=www.lb.test. member=192.0.2.12`) {
		t.Errorf("no log line for the dropped override:\n%s", ts.logs.String())
	}
	if b, _ := os.ReadFile(state); strings.Contains(string(b), "192.0.2.12") {
		t.Errorf("the state file keeps a removed member:\n%s", b)
	}
}
