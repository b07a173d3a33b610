package testutil

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestProc: output is kept, Stop reports how the program exited, and a
// program that exits while awaited ends the wait at once.
func TestProc(t *testing.T) {
	p := Run(t, "sh", "/bin/sh", "-c", `trap 'echo bye; exit 3' TERM; echo hello; while :; do sleep 0.05; done`)
	if m := p.WaitOutput(t, 10*time.Second, regexp.MustCompile(`hel(l)o`)); len(m) != 2 || m[1] != "l" {
		t.Fatalf("WaitOutput: %q", m)
	}
	err := p.Stop(10 * time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(p.Output(), "bye") {
		t.Fatalf("Stop: %v, output %q; want exit status 3 after bye", err, p.Output())
	}

	q := Run(t, "sh", "/bin/sh", "-c", "exit 2")
	start := time.Now()
	if err := q.await(time.Minute, func() bool { return false }); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("await on a program that exits: %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("await took %v for a program that exited at once", d)
	}
}

// TestProcGroup: Kill ends what the program started too (its group), as
// NSD's servers or an upgraded dnslb.
func TestProcGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	p := Run(t, "sh", "/bin/sh", "-c", `sleep 600 & echo $! > `+pidFile+`; wait`)
	var child int
	p.WaitFor(t, 10*time.Second, "the child's pid", func() bool {
		b, _ := os.ReadFile(pidFile)
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return child > 0
	})
	p.Kill()
	WaitFor(t, 10*time.Second, "the child to be gone", func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat")
		return err != nil || strings.Contains(string(b), ") Z ") // a zombie until init reaps it
	})
}

// TestBuilds: a command is built once per set of flags, and Close removes
// the binaries.
func TestBuilds(t *testing.T) {
	src := WriteFiles(t, map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.22\n",
		"main.go": "package main\n\nvar version = \"none\"\n\nfunc main() { println(version) }\n",
	})
	var b Builds
	defer b.Close()
	plain := b.Binary(t, src, "")
	again := b.Binary(t, src, "")
	other := b.Binary(t, src, "-X main.version=v2")
	if plain != again || plain == other {
		t.Fatalf("binaries %s, %s, %s: want the first two the same, the third another", plain, again, other)
	}
	for bin, want := range map[string]string{plain: "none", other: "v2"} {
		out, err := exec.Command(bin).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("%s: %q %v, want %q", bin, out, err, want)
		}
	}
	b.Close()
	if _, err := os.Stat(plain); !os.IsNotExist(err) {
		t.Errorf("after Close, %s: %v", plain, err)
	}
}

// TestNameServers: NSD serves a zone on a port it was given, Unbound
// resolves below it from a stub, Knot serves a zone from Files; each is
// ready when its starter returns.
func TestNameServers(t *testing.T) {
	zone := "$ORIGIN t.example.\n$TTL 60\n@ SOA ns1 hm 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\n"
	soa := Ready{Name: "t.example.", Type: dns.TypeSOA}
	nsd := StartNSD(t, NSD{Listen: "127.0.0.1:0", Zones: []NSDZone{{Name: "t.example.", Text: zone}}, Ready: soa})
	unbound := StartUnbound(t, Unbound{Listen: "127.0.0.1:0", Stubs: []Stub{{Zone: "t.example.", Addr: nsd.Addr}}, Ready: soa})
	knot := StartKnot(t, Knot{
		Listen: "127.0.0.1:0",
		Files:  map[string]string{"t.zone": zone},
		Config: "zone:\n  - domain: t.example.\n    file: t.zone\n",
		Ready:  soa,
	})
	for _, s := range []*NameServer{nsd, unbound, knot} {
		m := new(dns.Msg)
		m.SetQuestion("www.t.example.", dns.TypeA)
		r, err := dns.Exchange(m, s.Addr)
		if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.80" {
			t.Errorf("%s on %s: %v %v", s.Name, s.Addr, r, err)
		}
	}
}
