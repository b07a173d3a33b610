// Command dnslb is an authoritative DNS server whose answers load-balance
// over health-checked pools.
//
//	dnslb -config dnslb.toml          serve
//	dnslb -check -config dnslb.toml   validate the config and zone files, then exit
//	dnslb -config dnslb.toml -locate 81.2.69.0/24
//	                                  where each geo pool sends that client, and why
//	dnslb -version
//	dnslb -tsig-keygen NAME [-algorithm hmac-sha256]   print a new TSIG key
//	dnslb -dump-zone ORIGIN -config dnslb.toml         print a zone as served (file + journal)
//	dnslb -clear-journal ORIGIN -config dnslb.toml     remove a zone's update journal
//	dnslb ctl [-config FILE] [-json] status|drain|undrain|force-up|force-down|reload|upgrade
//
// Hosts of a cluster share one config file and give what differs as flags:
//
//	dnslb -config dnslb.toml -listen 192.0.2.53:53 -cluster-name ns1 -cluster-bind 192.0.2.53:7946
//
// SIGHUP reloads the config; SIGUSR2 replaces the binary without dropping a
// query; SIGTERM and SIGINT stop the server gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/dnslb/dnslb/dnslb"
	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/dnslb/upgrade"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// the module version or VCS revision is used.
var version = ""

func main() {
	// The UDP workers (one per CPU) block in recvmmsg, each holding a Go
	// P. One P more than there are CPUs lets the rest of the server run
	// meanwhile and keeps the runtime from retaking the workers' Ps, which
	// it otherwise checks for every 20 µs: a quarter of the CPU per query
	// at 50k q/s. An explicit GOMAXPROCS is respected.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.NumCPU() + 1)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "ctl" {
		return runCtl(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("dnslb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "dnslb.toml", "path of the TOML config file")
	check := fs.Bool("check", false, "validate the config and its zone files, print every error as FILE:LINE: message, and exit")
	locate := fs.String("locate", "", "ADDRESS[/PREFIX]: print, for every geo pool, the client's location, datacenter list, network and ECS scope, and what would be served now (after probing the members), and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	var host config.Host
	fs.Func("listen", "DNS address of this host, replacing [server] listen (repeat for several, or separate with commas)", func(v string) error {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				host.Listen = append(host.Listen, a)
			}
		}
		return nil
	})
	fs.StringVar(&host.ClusterName, "cluster-name", "", "this instance's name in the cluster, replacing [cluster] name")
	fs.StringVar(&host.ClusterBind, "cluster-bind", "", "this instance's gossip address, replacing [cluster] bind")
	fs.StringVar(&host.HTTP, "http", "", "this host's HTTP address, replacing [server] http")
	fs.StringVar(&host.StateFile, "state-file", "", "this host's state file, replacing [server] state_file")
	probeSource := fs.String("probe-source", "", "address health probes leave from (default: the system's choice)")
	keygen := fs.String("tsig-keygen", "", "print a new TSIG key named `NAME` as config lines and a secret, and exit")
	algorithm := fs.String("algorithm", "hmac-sha256", "algorithm for -tsig-keygen: hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1")
	dumpZone := fs.String("dump-zone", "", "print the zone `ORIGIN` as served (zone file with its update journal replayed), and exit")
	clearJournal := fs.String("clear-journal", "", "remove the update journal of the zone `ORIGIN`, and exit (reload a running server afterwards)")
	pidFile := fs.String("pidfile", "", "write the PID here once serving (again by each upgraded process)")
	dsZone := fs.String("ds", "", "print the DS records of this signed zone for its parent (creating its first key if none) and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case *dsZone != "":
		ds, err := dnslb.DS(*cfgPath, *dsZone)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		for _, d := range ds {
			fmt.Fprintln(stdout, d.String())
		}
		return 0
	case *keygen != "":
		text, err := dnslb.KeygenText(*keygen, *algorithm)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprint(stdout, text)
		return 0
	case *dumpZone != "":
		if err := dnslb.DumpZone(*cfgPath, *dumpZone, stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	case *clearJournal != "":
		path, err := dnslb.ClearJournal(*cfgPath, *clearJournal)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "removed %s; reload dnslb (SIGHUP) to serve the zone file alone\n", path)
		return 0
	}
	if *showVersion {
		fmt.Fprintln(stdout, "dnslb", buildVersion())
		return 0
	}
	if *locate != "" {
		if err := dnslb.Locate(context.Background(), *cfgPath, *locate, stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	var src netip.Addr
	if *probeSource != "" {
		var err error
		if src, err = netip.ParseAddr(*probeSource); err != nil {
			fmt.Fprintf(stderr, "-probe-source %q: not an IP address\n", *probeSource)
			return 2
		}
	}
	if *check {
		// Warnings (a damaged state file) do not stop the server, so
		// they do not fail the check either.
		for _, w := range dnslb.CheckState(*cfgPath) {
			fmt.Fprintln(stderr, "warning:", w)
		}
		if err := dnslb.CheckFor(*cfgPath, host); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n", *cfgPath)
		return 0
	}
	upg, err := upgrade.New(upgrade.Options{PIDFile: *pidFile})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer upg.Stop()
	srv, err := dnslb.New(*cfgPath, dnslb.Options{LogOutput: stderr, Version: buildVersion(), Revision: buildRevision(), Upgrader: upg,
		Host: host, ProbeSource: src})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-sigs:
				// Both logged by the server; on failure the running config
				// or binary keeps serving.
				if sig == syscall.SIGUSR2 {
					_ = srv.Upgrade()
				} else {
					_ = srv.Reload()
				}
			}
		}
	}()
	if err := srv.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// buildRevision is the VCS revision the binary was built from, "" if unknown.
func buildRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "devel-" + s.Value[:12]
			}
		}
	}
	return "devel"
}
