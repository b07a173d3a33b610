package testutil

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The name servers the end-to-end tests compare dnslb with or build a
// delegation chain from (NSD, Unbound, Knot): each starter writes the
// program's config into a new t.TempDir(), starts it, waits until it
// answers, and leaves it to StartProc to stop it when the test ends and to
// show its logs (stderr) when the test fails.

// NameServer is a started name server.
type NameServer struct {
	*Proc
	Addr string // host:port it answers on
	Dir  string // its folder: config, zone files, state
}

// Ready is the query a starter waits on. The zero value waits for any
// response, over UDP and TCP, to ". SOA" (the server is up, whatever it
// serves); a Name waits for NOERROR to Name/Type over UDP with recursion
// desired (the zone is loaded, or the resolver resolves).
type Ready struct {
	Name string
	Type uint16
}

// readyWait is how long a starter waits for the server to answer.
const readyWait = 20 * time.Second

// NSD configures StartNSD.
type NSD struct {
	Listen string    // host:port; port 0: a free port (tried three times, as another program may bind it first)
	Zones  []NSDZone // the zones served
	Server []string  // more lines of the server: section, e.g. "minimal-responses: yes"
	Extra  string    // more sections (key: …), as they are
	Ready  Ready     // what to wait for
}

// NSDZone is one zone: section.
type NSDZone struct {
	Name    string   // e.g. "example."
	Text    string   // the zone file, written into the folder; "" for a file kept there by NSD (a secondary)
	Options []string // more lines of the section, e.g. "request-xfr: …"
}

// StartNSD runs nsd -d with c.
func StartNSD(t testing.TB, c NSD) *NameServer {
	t.Helper()
	bin := LookTool(t, "nsd")
	dir := t.TempDir()
	var zones strings.Builder
	for i, z := range c.Zones {
		file := filepath.Join(dir, fmt.Sprintf("zone%d", i))
		if z.Text != "" {
			writeFile(t, file, z.Text)
		}
		fmt.Fprintf(&zones, "zone:\n  name: %q\n  zonefile: %q\n", z.Name, file)
		zones.WriteString(indent("  ", z.Options))
	}
	return startServer(t, "nsd", dir, c.Listen, c.Ready, func(addr string) []string {
		host, port, _ := net.SplitHostPort(addr)
		conf := fmt.Sprintf(`server:
  ip-address: %[2]s@%[3]s
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: %[1]q
  database: ""
  pidfile: "%[1]s/nsd.pid"
  xfrdfile: "%[1]s/xfrd.state"
  xfrdir: %[1]q
  zonelistfile: "%[1]s/zone.list"
  rrl-ratelimit: 0
%[4]sremote-control:
  control-enable: no
%[5]s%[6]s`, dir, host, port, indent("  ", c.Server), c.Extra, zones.String())
		writeFile(t, filepath.Join(dir, "nsd.conf"), conf)
		return []string{bin, "-d", "-c", filepath.Join(dir, "nsd.conf")}
	})
}

// Unbound configures StartUnbound: a resolver that knows nothing but its
// stub zones and follows referrals from there by itself.
type Unbound struct {
	Listen      string   // host:port
	Stubs       []Stub   // where to start resolving
	TrustAnchor string   // a DNSKEY or DS record: validate from it; "" for no validation
	Ready       Ready    // what to wait for
	Server      []string // more lines of the server: section
}

// Stub is a stub-zone: name and the server to ask for it.
type Stub struct{ Zone, Addr string }

// StartUnbound runs unbound -d with c.
func StartUnbound(t testing.TB, c Unbound) *NameServer {
	t.Helper()
	bin := LookTool(t, "unbound")
	dir := t.TempDir()
	server := []string{"module-config: \"iterator\""}
	if c.TrustAnchor != "" {
		server = []string{"val-log-level: 2", "module-config: \"validator iterator\"", `trust-anchor: "` + c.TrustAnchor + `"`}
	}
	var stubs strings.Builder
	for _, s := range c.Stubs {
		fmt.Fprintf(&stubs, "stub-zone:\n  name: %q\n  stub-addr: %s\n", s.Zone, strings.Replace(s.Addr, ":", "@", 1))
	}
	return startServer(t, "unbound", dir, c.Listen, c.Ready, func(addr string) []string {
		host, port, _ := net.SplitHostPort(addr)
		conf := fmt.Sprintf(`server:
  interface: %[2]s
  port: %[3]s
  do-ip6: no
  do-daemonize: no
  chroot: ""
  username: ""
  directory: %[1]q
  pidfile: "%[1]s/unbound.pid"
  logfile: ""
  use-syslog: no
  verbosity: 1
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  harden-glue: yes
  qname-minimisation: no
  prefetch: no
  serve-expired: no
  cache-min-ttl: 0
%[4]sremote-control:
  control-enable: no
%[5]s`, dir, host, port, indent("  ", append(server, c.Server...)), stubs.String())
		writeFile(t, filepath.Join(dir, "unbound.conf"), conf)
		return []string{bin, "-d", "-c", filepath.Join(dir, "unbound.conf")}
	})
}

// Knot configures StartKnot. The folder is knotd's rundir, database and
// the default template's storage, so zone files named in Files are found
// by their bare name.
type Knot struct {
	Listen   string            // host:port; port 0: a free port (tried three times)
	Files    map[string]string // written into the folder first (zone files)
	Template []string          // more lines of the default template, e.g. "global-module: …"
	Config   string            // more sections (key, remote, acl, zone, mod-…), as they are, before the template (which may name a module)
	Ready    Ready             // what to wait for
}

// StartKnot runs knotd with c; it logs at level info to stderr (Output).
func StartKnot(t testing.TB, c Knot) *NameServer {
	t.Helper()
	bin := LookTool(t, "knotd")
	dir := t.TempDir()
	for name, text := range c.Files {
		writeFile(t, filepath.Join(dir, name), text)
	}
	return startServer(t, "knotd", dir, c.Listen, c.Ready, func(addr string) []string {
		host, port, _ := net.SplitHostPort(addr)
		conf := fmt.Sprintf(`server:
  rundir: %[1]q
  listen: %[2]s@%[3]s
  pidfile: "%[1]s/knot.pid"
log:
  - target: stderr
    any: info
database:
  storage: %[1]q
%[5]stemplate:
  - id: default
    storage: %[1]q
%[4]s`, dir, host, port, indent("    ", c.Template), c.Config)
		writeFile(t, filepath.Join(dir, "knot.conf"), conf)
		return []string{bin, "-c", filepath.Join(dir, "knot.conf")}
	})
}

// startServer runs the command args(addr) returns until it answers ready
// on addr. A listen address with port 0 is given a free port, and another
// one if the server does not come up there (another program may have
// bound it between the check and the server's bind); a fixed one is tried
// once.
func startServer(t testing.TB, name, dir, listen string, ready Ready, args func(addr string) []string) *NameServer {
	t.Helper()
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("%s: listen address %q: %v", name, listen, err)
	}
	attempts := 1
	if port == "0" {
		attempts = 3
	}
	for attempt := 1; ; attempt++ {
		addr := listen
		if port == "0" {
			addr = FreeAddr(t, host)
		}
		a := args(addr)
		p := Run(t, name, a[0], a[1:]...)
		err := p.await(readyWait, func() bool { return answers(addr, ready) == nil })
		if err == nil {
			return &NameServer{Proc: p, Addr: addr, Dir: dir}
		}
		if attempt == attempts {
			t.Fatalf("%s does not answer on %s: %v (last query: %v)\n%s", name, addr, err, answers(addr, ready), p.Output())
		}
		p.Kill()
	}
}

// answers asks addr what ready says and tells why it is not ready yet.
func answers(addr string, ready Ready) error {
	m := new(dns.Msg)
	if ready.Name == "" {
		m.SetQuestion(".", dns.TypeSOA)
		for _, netw := range []string{"udp", "tcp"} {
			c := &dns.Client{Net: netw, Timeout: 500 * time.Millisecond}
			if _, _, err := c.Exchange(m, addr); err != nil {
				return err
			}
		}
		return nil
	}
	m.SetQuestion(ready.Name, ready.Type)
	m.SetEdns0(1232, false)
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess {
		return errors.New(dns.RcodeToString[r.Rcode])
	}
	return nil
}

// indent makes lines of a section: prefix before each, a newline after.
func indent(prefix string, lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
