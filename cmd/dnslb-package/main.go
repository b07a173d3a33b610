// Command dnslb-package builds the Debian package of dnslb with nfpm
// (`make deb` runs it):
//
//	dnslb-package -bin cmd/dnslb/dnslb -version 0.1.0 -out dnslb_0.1.0_amd64.deb
//
// The package has the layout `make install` makes: /usr/bin/dnslb, the
// systemd unit, /etc/dnslb/dnslb.toml (a conffile kept across upgrades) and
// the licence; its postinst (files/postinst, shared with `make install`)
// creates the dnslb user, /var/lib/dnslb and a random admin token readable
// by dnslb only.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dnslb-package:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("dnslb-package", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "cmd/dnslb/dnslb", "the dnslb binary to package")
	version := fs.String("version", "", "package version (Debian syntax, starting with a digit)")
	arch := fs.String("arch", runtime.GOARCH, "Debian architecture of the binary")
	out := fs.String("out", "", "the .deb to write (default dnslb_VERSION_ARCH.deb)")
	filesDir := fs.String("files", "cmd/dnslb-package/files", "folder of the unit, example config and maintainer scripts")
	license := fs.String("license", "LICENSE", "the licence file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if v := *version; v == "" || v[0] < '0' || v[0] > '9' {
		return fmt.Errorf("-version %q: give a Debian version starting with a digit, e.g. 0.1.0", *version)
	}
	if *out == "" {
		*out = fmt.Sprintf("dnslb_%s_%s.deb", *version, *arch)
	}
	tmp, err := os.MkdirTemp("", "dnslb-package-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The unit names the binary where this package puts it.
	unit, err := os.ReadFile(filepath.Join(*filesDir, "dnslb.service"))
	if err != nil {
		return err
	}
	unitPath := filepath.Join(tmp, "dnslb.service")
	if err := os.WriteFile(unitPath, bytes.ReplaceAll(unit, []byte("@BINDIR@"), []byte("/usr/bin")), 0o644); err != nil {
		return err
	}
	info := &nfpm.Info{
		Name:          "dnslb",
		Arch:          *arch,
		Platform:      "linux",
		Version:       *version,
		VersionSchema: "none", // Debian syntax as given (e.g. 0.1.0~git20261127.abc), not semver
		Section:       "net",
		Priority:      "optional",
		Maintainer:    "dnslb maintainers <dnslb@users.noreply.github.com>",
		Homepage:      "https://github.com/dnslb/dnslb",
		License:       "Apache-2.0",
		Description: "load-balancing authoritative DNS server\n" +
			"dnslb answers A/AAAA queries for pooled names with only the members\n" +
			"that pass their health checks, ordered by the pool's policy, and serves\n" +
			"the rest of its zones as an ordinary authoritative server.",
		MTime: time.Unix(0, 0).UTC(), // the same inputs give the same package
		Overridables: nfpm.Overridables{
			Depends: []string{"passwd"}, // useradd in postinst
			Contents: files.Contents{
				{Source: *bin, Destination: "/usr/bin/dnslb", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: unitPath, Destination: "/usr/lib/systemd/system/dnslb.service", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				{Source: filepath.Join(*filesDir, "dnslb.toml"), Destination: "/etc/dnslb/dnslb.toml", Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				{Source: *license, Destination: "/usr/share/doc/dnslb/copyright", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
			},
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(*filesDir, "postinst"),
				PreRemove:   filepath.Join(*filesDir, "prerm"),
				PostRemove:  filepath.Join(*filesDir, "postrm"),
			},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return fmt.Errorf("package contents: %w", err)
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return err
	}
	f, err := os.Create(*out + ".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		return fmt.Errorf("deb: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), *out); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "wrote", strings.TrimPrefix(*out, "./"))
	return nil
}
