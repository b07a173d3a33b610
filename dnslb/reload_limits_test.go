package dnslb

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

const limitsZone = "$ORIGIN lb.test.\n$TTL 60\n@ IN SOA ns1 hm 1 3600 600 86400 30\n@ IN NS ns1\nns1 IN A 192.0.2.1\nver IN TXT \"one\"\n"

// limitsConfig serves lb.test. from zone.db beside extra [server] keys.
func limitsConfig(t *testing.T, server string) (dir, cfg string) {
	t.Helper()
	dir = testutil.WriteFiles(t, map[string]string{
		"token":   testToken + "\n",
		"zone.db": limitsZone,
		"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = "127.0.0.1:0"
admin_token_file = "token"
` + server + `
[[zone]]
origin = "lb.test."
file = "zone.db"
`})
	return dir, filepath.Join(dir, "dnslb.toml")
}

// TestReloadBadIncludes: reloads of a zone that $INCLUDEs /dev/zero, a
// FIFO or more than zone_max_bytes fail at once with a clear error, by
// SIGHUP's path and by the API, the old zone keeps serving, and no call
// leaves a goroutine behind (issue 20: OOM 8 s after /dev/zero; a FIFO hung
// every later reload and leaked a goroutine per API call).
func TestReloadBadIncludes(t *testing.T) {
	dir, cfg := limitsConfig(t, "zone_max_bytes = 4096")
	ts := start(t, cfg, Options{})
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.db")
	if err := writeFile(big, strings.Repeat("; padding\n", 500)); err != nil {
		t.Fatal(err)
	}
	ver := func() string {
		r := ts.ask(t, "udp", "ver.lb.test.", dns.TypeTXT)
		if len(r.Answer) != 1 {
			t.Fatalf("ver.lb.test. TXT: %v", r)
		}
		return r.Answer[0].(*dns.TXT).Txt[0]
	}
	for _, tc := range []struct{ include, want string }{
		{"/dev/zero", "not a regular file (a device)"},
		{fifo, "not a regular file (a FIFO)"},
		{big, "larger than allowed"},
	} {
		if err := writeFile(filepath.Join(dir, "zone.db"), limitsZone+"$INCLUDE "+tc.include+"\n"); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- ts.Reload() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "zone.db:7:") {
				t.Errorf("$INCLUDE %s: reload error %v, want zone.db:7: ... %q", tc.include, err, tc.want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("$INCLUDE %s: the reload did not return", tc.include)
		}
		for range 10 {
			code, body := ts.post(t, "/api/v1/reload", testToken, "")
			if code != 422 || !strings.Contains(body, tc.want) {
				t.Errorf("$INCLUDE %s: API reload %d %s", tc.include, code, body)
			}
		}
		if got := ver(); got != "one" {
			t.Errorf("after a refused reload the zone says %q", got)
		}
	}
	// Nothing a refused reload started may still be reading or waiting.
	testutil.WaitGoroutinesGone(t, 20*time.Second, "github.com/dnslb/dnslb/zones.", "dnslb.(*Server).reload", "dnslb.(*Server).ReloadContext", "dnslb.buildSnapshotContext")
	// A good zone still reloads.
	if err := writeFile(filepath.Join(dir, "zone.db"), strings.Replace(limitsZone, "one", "two", 1)); err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := ver(); got != "two" {
		t.Errorf("after a good reload the zone says %q", got)
	}
}

// TestReloadTimeout: a reload that cannot finish within reload_timeout
// fails saying so, and the old config keeps serving. The zone is an
// $INCLUDE bomb of empty files (a million opens, each within every size and
// record limit): only the time bounds it.
func TestReloadTimeout(t *testing.T) {
	dir, cfg := limitsConfig(t, `reload_timeout = "500ms"`)
	ts := start(t, cfg, Options{})
	inc := filepath.Join(dir, "empty0.db")
	if err := writeFile(inc, ""); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 6; i++ {
		next := filepath.Join(dir, fmt.Sprintf("empty%d.db", i))
		if err := writeFile(next, strings.Repeat("$INCLUDE "+inc+"\n", 10)); err != nil {
			t.Fatal(err)
		}
		inc = next
	}
	if err := writeFile(filepath.Join(dir, "zone.db"), limitsZone+"h1 IN A 192.0.2.1\n$INCLUDE "+inc+"\n"); err != nil {
		t.Fatal(err)
	}
	err := ts.Reload()
	if err == nil || !strings.Contains(err.Error(), "reload did not finish within reload_timeout (500ms)") {
		t.Fatalf("reload error %v", err)
	}
	if r := ts.ask(t, "udp", "h1.lb.test.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("the refused zone is served: %v", r)
	}
	// -check says the same.
	if err := Check(cfg); err == nil || !strings.Contains(err.Error(), "loading did not finish within reload_timeout (500ms)") {
		t.Errorf("Check: %v", err)
	}
}

// TestErrorsHideFileContents: a zone file or $INCLUDE that is no zone file
// (the admin token, /etc/shadow) is reported by file and line, never with
// its text, in -check output, in the log and in the API's 422 body.
func TestErrorsHideFileContents(t *testing.T) {
	const secret = "s3cr3t-Token-Value-0123456789"
	for _, tc := range []struct {
		name, file, zone string
		line             int
	}{
		{"token as an include", "secret", limitsZone + "$INCLUDE secret\n", 1},
		{"shadow-like include", "shadow", limitsZone + "$INCLUDE shadow\n", 1},
		{"token as the zone file", "secret", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, cfg := limitsConfig(t, "")
			files := map[string]string{
				"secret": secret + "\n",
				"shadow": "root:$6$" + secret + ":19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
			}
			for name, text := range files {
				if err := writeFile(filepath.Join(dir, name), text); err != nil {
					t.Fatal(err)
				}
			}
			ts := start(t, cfg, Options{})
			if tc.zone != "" {
				if err := writeFile(filepath.Join(dir, "zone.db"), tc.zone); err != nil {
					t.Fatal(err)
				}
			} else {
				b, _ := os.ReadFile(cfg)
				if err := writeFile(cfg, strings.Replace(string(b), `file = "zone.db"`, `file = "secret"`, 1)); err != nil {
					t.Fatal(err)
				}
			}
			where := fmt.Sprintf("%s:%d:", filepath.Join(dir, tc.file), tc.line)
			if tc.zone == "" {
				where = fmt.Sprintf("%s:%d:", filepath.Join(dir, tc.file), tc.line)
			}
			checkErr := Check(cfg)
			code, body := ts.post(t, "/api/v1/reload", testToken, "")
			var api struct{ Errors []string }
			if err := json.Unmarshal([]byte(body), &api); err != nil || code != 422 {
				t.Fatalf("API reload: %d %s", code, body)
			}
			for what, text := range map[string]string{"-check": fmt.Sprint(checkErr), "API": strings.Join(api.Errors, "\n"), "log": ts.logs.String()} {
				if strings.Contains(text, secret) || strings.Contains(text, "root:") {
					t.Errorf("%s shows the file's contents:\n%s", what, text)
				}
				if !strings.Contains(text, where) {
					t.Errorf("%s does not name %s:\n%s", what, where, text)
				}
			}
		})
	}
}
