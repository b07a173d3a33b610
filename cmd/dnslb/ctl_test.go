package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnslb/dnslb/dnslb"
)

// ctlServer starts a server on ephemeral ports and returns the folder of its
// config; ctl configs written there name its real HTTP address.
func ctlServer(t *testing.T) (dir, httpAddr string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("ctl-test-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := `[server]
listen = ["127.0.0.1:0"]
http = "127.0.0.1:0"
admin_token_file = "token"
[[zone]]
origin = "lb.ctl."
records = ["@ 60 IN SOA ns1 hm 1 3600 600 86400 60", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1"]
[[pool]]
name = "www.lb.ctl."
members = [{ address = "192.0.2.10" }, { address = "192.0.2.11" }]
`
	cfg := filepath.Join(dir, "server.toml")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := dnslb.New(cfg, dnslb.Options{LogOutput: io.Discard, Version: "ctl-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return dir, srv.HTTPAddr()
}

// ctlConfig writes a config for ctl: the server's HTTP address and,
// unless tokenFile is "", a token file holding token.
func ctlConfig(t *testing.T, dir, name, httpAddr, token string) string {
	t.Helper()
	conf := "[server]\nhttp = \"" + httpAddr + "\"\n"
	if token != "" {
		if err := os.WriteFile(filepath.Join(dir, name+".token"), []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		conf += "admin_token_file = \"" + name + ".token\"\n" // relative to the config, as the server reads it
	}
	conf += "[[zone]]\norigin = \"ignored.\"\n" // ctl reads [server] only
	p := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func ctl(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(append([]string{"ctl"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCtl(t *testing.T) {
	dir, addr := ctlServer(t)
	withToken := ctlConfig(t, dir, "ok", addr, "ctl-test-token-0123456789")
	noToken := ctlConfig(t, dir, "none", addr, "")
	wrongToken := ctlConfig(t, dir, "wrong", addr, "not-the-token-0123456789")
	down := ctlConfig(t, dir, "down", "127.0.0.1:1", "")
	off := ctlConfig(t, dir, "off", "", "")

	override := func(member string) string {
		t.Helper()
		code, out, errOut := ctl("-config", noToken, "-json", "status")
		if code != 0 {
			t.Fatalf("status -json: exit %d: %s", code, errOut)
		}
		var st struct {
			Pools []struct {
				Members []struct{ Address, Override string }
			}
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status -json is not JSON: %v\n%s", err, out)
		}
		for _, m := range st.Pools[0].Members {
			if m.Address == member {
				return m.Override
			}
		}
		t.Fatalf("no member %s in %s", member, out)
		return ""
	}

	for _, tt := range []struct {
		name     string
		args     []string
		code     int
		out, err string // substrings of stdout and stderr
		override string // of 192.0.2.10 afterwards, when set
	}{
		{"status needs no token", []string{"-config", noToken, "status"}, 0, "www.lb.ctl.  round_robin  192.0.2.10", "", "none"},
		{"drain", []string{"-config", withToken, "drain", "www.lb.ctl.", "192.0.2.10"}, 0, "www.lb.ctl. 192.0.2.10: override drain", "", "drain"},
		{"status shows it", []string{"-config", withToken, "status"}, 0, "192.0.2.10  unchecked  drain     no", "", "drain"},
		{"undrain", []string{"-config", withToken, "undrain", "www.lb.ctl", "192.0.2.10"}, 0, "override none", "", "none"},
		{"force-down", []string{"-config", withToken, "force-down", "www.lb.ctl.", "192.0.2.10"}, 0, "override down", "", "down"},
		{"force-up", []string{"-config", withToken, "force-up", "www.lb.ctl.", "192.0.2.10"}, 0, "override up", "", "up"},
		{"without a token", []string{"-config", noToken, "drain", "www.lb.ctl.", "192.0.2.10"}, 1, "", "401 Unauthorized: missing or wrong token", "up"},
		{"with a wrong token", []string{"-config", wrongToken, "force-down", "www.lb.ctl.", "192.0.2.10"}, 1, "", "401 Unauthorized", "up"},
		{"unknown pool", []string{"-config", withToken, "drain", "nope.lb.ctl.", "192.0.2.10"}, 1, "", "404 Not Found: no pool nope.lb.ctl.", ""},
		{"unknown member", []string{"-config", withToken, "drain", "www.lb.ctl.", "192.0.2.99"}, 1, "", "has no member 192.0.2.99", ""},
		{"reload", []string{"-config", withToken, "reload"}, 0, "reloaded: config sha256 ", "", "up"},
		{"reload without a token", []string{"-config", noToken, "reload"}, 1, "", "401", ""},
		{"json", []string{"-config", withToken, "-json", "undrain", "www.lb.ctl.", "192.0.2.10"}, 0, `"override": "none"`, "", "none"},
		{"upgrade without an upgrader", []string{"-config", withToken, "upgrade"}, 1, "", "upgrades are not available", ""},
		{"server not running", []string{"-config", down, "status"}, 1, "", "connection refused", ""},
		{"HTTP side off", []string{"-config", off, "status"}, 1, "", `server.http is "": the HTTP side is off`, ""},
		{"missing config", []string{"-config", filepath.Join(dir, "absent.toml"), "status"}, 1, "", "no such file", ""},
		{"unknown command", []string{"-config", withToken, "restart"}, 2, "", `unknown command "restart"`, ""},
		{"missing arguments", []string{"-config", withToken, "drain", "www.lb.ctl."}, 2, "", "takes 2 arguments, got 1", ""},
		{"no command", []string{"-config", withToken}, 2, "", "usage: dnslb ctl", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := ctl(tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) {
				t.Errorf("exit %d, want %d\nstdout (want %q):\n%s\nstderr (want %q):\n%s", code, tt.code, tt.out, out, tt.err, errOut)
			}
			if tt.override != "" {
				if got := override("192.0.2.10"); got != tt.override {
					t.Errorf("override afterwards %q, want %q", got, tt.override)
				}
			}
		})
	}
}
