package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository, where make runs.
const root = "../.."

func runCmd(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// checkInstalled checks what make install and the package have in common
// under dest: the unit names the binary at bin, the example config is
// valid for that binary, and postinst made a token of its own readable by
// its owner only and the state folder.
func checkInstalled(t *testing.T, dest, bin, unit string) {
	t.Helper()
	mode := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dest, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode()
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{
		{bin, 0o755},
		{unit, 0o644},
		{"/etc/dnslb", os.ModeDir | 0o755},
		{"/etc/dnslb/dnslb.toml", 0o644},
		{"/etc/dnslb/admin.token", 0o600},
		{"/var/lib/dnslb", os.ModeDir | 0o750},
	} {
		if got := mode(f.path); got != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, got, f.mode)
		}
	}
	tok, err := os.ReadFile(filepath.Join(dest, "/etc/dnslb/admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9+/]{40,}\n$`).Match(tok) {
		t.Errorf("admin token %q: want one line of at least 40 random characters", tok)
	}
	u, err := os.ReadFile(filepath.Join(dest, unit))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=" + bin + " -config /etc/dnslb/dnslb.toml\n", "Type=notify\n", "NotifyAccess=all\n", "User=dnslb\n", "ExecReload=/bin/kill -HUP $MAINPID\n"} {
		if !strings.Contains(string(u), want) {
			t.Errorf("unit lacks %q:\n%s", want, u)
		}
	}
	if out, err := exec.Command(filepath.Join(dest, bin), "-check", "-config", filepath.Join(dest, "/etc/dnslb/dnslb.toml")).CombinedOutput(); err != nil {
		t.Errorf("the installed example config does not pass -check: %v\n%s", err, out)
	}
}

// TestMakeInstall installs into a temporary root, twice: the second run
// keeps the token and an edited config.
func TestMakeInstall(t *testing.T) {
	dest := t.TempDir()
	runCmd(t, nil, "make", "install", "DESTDIR="+dest)
	checkInstalled(t, dest, "/usr/local/bin/dnslb", "/etc/systemd/system/dnslb.service")

	tok, _ := os.ReadFile(filepath.Join(dest, "/etc/dnslb/admin.token"))
	cfg := filepath.Join(dest, "/etc/dnslb/dnslb.toml")
	edited, _ := os.ReadFile(cfg)
	edited = append(edited, "# edited by the operator\n"...)
	if err := os.WriteFile(cfg, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(t, nil, "make", "install", "DESTDIR="+dest, "BINDIR=/opt/dnslb/bin")
	checkInstalled(t, dest, "/opt/dnslb/bin/dnslb", "/etc/systemd/system/dnslb.service")
	if again, _ := os.ReadFile(filepath.Join(dest, "/etc/dnslb/admin.token")); string(again) != string(tok) {
		t.Error("a second install replaced the admin token")
	}
	if again, _ := os.ReadFile(cfg); string(again) != string(edited) {
		t.Error("a second install replaced the edited config")
	}
}

// TestDeb builds the package and checks it with dpkg-deb: its control
// fields, conffiles, contents and modes, and maintainer scripts; then runs
// its postinst into the unpacked tree, as dpkg would on a host.
func TestDeb(t *testing.T) {
	dir := t.TempDir()
	deb := filepath.Join(dir, "dnslb.deb")
	// What make deb runs, with the packager in this process (go run would
	// build nfpm once more, without -race).
	dry := runCmd(t, nil, "make", "-n", "deb", "DEB_VERSION=1.2.3~test", "DEB_OUT="+deb)
	build := regexp.MustCompile(`(?m)^.*go build .*-X main\.version=1\.2\.3~test.* -o (\S+) \./cmd/dnslb$`).FindStringSubmatch(dry)
	pack := regexp.MustCompile(`(?m)^.*go run \./cmd/dnslb-package (.*)$`).FindStringSubmatch(dry)
	if build == nil || pack == nil {
		t.Fatalf("make deb does not build the binary and run cmd/dnslb-package:\n%s", dry)
	}
	bin := filepath.Join(dir, "dnslb")
	runCmd(t, nil, "go", "build", "-ldflags", "-X main.version=1.2.3~test", "-o", bin, "./cmd/dnslb")
	args := strings.Fields(strings.NewReplacer("'", "", build[1], bin).Replace(pack[1]))
	wd, _ := os.Getwd()
	if err := os.Chdir(root); err != nil {
		t.Fatal(err)
	}
	err := run(args, io.Discard)
	if cerr := os.Chdir(wd); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatalf("dnslb-package %s: %v", strings.Join(args, " "), err)
	}

	info := runCmd(t, nil, "dpkg-deb", "--info", deb)
	for _, want := range []string{
		" Package: dnslb\n", " Version: 1.2.3~test\n", " Depends: passwd\n", " Section: net\n",
		"conffiles", "postinst", "prerm", "postrm",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	if got := runCmd(t, nil, "dpkg-deb", "--info", deb, "conffiles"); got != "/etc/dnslb/dnslb.toml\n" {
		t.Errorf("conffiles %q, want the config only", got)
	}
	postinst := runCmd(t, nil, "dpkg-deb", "--info", deb, "postinst")
	for _, want := range []string{"useradd --system", "/var/lib/dnslb", "admin.token", "chmod 0600", "chown dnslb:dnslb", "configure"} {
		if !strings.Contains(postinst, want) {
			t.Errorf("postinst lacks %q", want)
		}
	}
	if postrm := runCmd(t, nil, "dpkg-deb", "--info", deb, "postrm"); !strings.Contains(postrm, "purge") {
		t.Errorf("postrm does not clean up on purge:\n%s", postrm)
	}
	if prerm := runCmd(t, nil, "dpkg-deb", "--info", deb, "prerm"); !strings.Contains(prerm, "systemctl stop dnslb") {
		t.Errorf("prerm does not stop the service:\n%s", prerm)
	}

	contents := runCmd(t, nil, "dpkg-deb", "--contents", deb)
	for _, want := range []string{
		`-rwxr-xr-x root/root +\d+ \S+ \S+ \./usr/bin/dnslb\n`,
		`-rw-r--r-- root/root +\d+ \S+ \S+ \./usr/lib/systemd/system/dnslb\.service\n`,
		`-rw-r--r-- root/root +\d+ \S+ \S+ \./etc/dnslb/dnslb\.toml\n`,
		`-rw-r--r-- root/root +\d+ \S+ \S+ \./usr/share/doc/dnslb/copyright\n`,
	} {
		if !regexp.MustCompile(want).MatchString(contents) {
			t.Errorf("dpkg-deb --contents lacks %s:\n%s", want, contents)
		}
	}
	if strings.Contains(contents, "admin.token") {
		t.Error("the package carries an admin token: each host must make its own")
	}

	unpacked := filepath.Join(dir, "root")
	runCmd(t, nil, "dpkg-deb", "-x", deb, unpacked)
	if out, err := exec.Command(filepath.Join(unpacked, "usr/bin/dnslb"), "-version").Output(); err != nil || string(out) != "dnslb 1.2.3~test\n" {
		t.Errorf("packaged dnslb -version: %q %v", out, err)
	}
	script := filepath.Join(dir, "postinst")
	if err := os.WriteFile(script, []byte(postinst), 0o755); err != nil {
		t.Fatal(err)
	}
	runCmd(t, []string{"DNSLB_ROOT=" + unpacked}, "sh", script, "configure")
	checkInstalled(t, unpacked, "/usr/bin/dnslb", "/usr/lib/systemd/system/dnslb.service")
}
