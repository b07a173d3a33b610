package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a program a test runs (a name server, the dnslb binary), in its
// own process group: NSD forks its servers and an upgraded dnslb execs its
// successor, and stopping the group stops them all.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	out  SyncBuffer
	done chan struct{}
	err  error // of Wait, once done is closed
}

// stopWait is how long a program may take to exit on SIGTERM before it is
// killed and the test fails.
const stopWait = 20 * time.Second

// StartProc starts cmd; its output goes to the Proc's buffer unless cmd
// names another place. When the test ends the group is sent SIGTERM (the
// test fails if the program ignores it for 20 s) and, if the test failed,
// the output is logged.
func StartProc(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = &p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &p.out
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		// The group, even when its first process has exited: what it
		// started may still run.
		_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopWait):
			t.Errorf("%s (pid %d) ignored SIGTERM for %v; killing it", name, p.Pid(), stopWait)
			p.Kill()
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Output())
		}
	})
	return p
}

// Run starts bin with args as StartProc does. bin without a slash is
// looked up in the PATH and /usr/sbin, failing the test when it is not
// installed.
func Run(t testing.TB, name, bin string, args ...string) *Proc {
	t.Helper()
	if !strings.Contains(bin, "/") {
		bin = LookTool(t, bin)
	}
	return StartProc(t, name, exec.Command(bin, args...))
}

// LookTool returns the path of the program name, which `make tools`
// installs, failing the test when it is missing.
func LookTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		p, err = exec.LookPath("/usr/sbin/" + name) // not in the PATH of non-root users
	}
	if err != nil {
		t.Fatalf("%s is not installed: `make tools` installs it: %v", name, err)
	}
	return p
}

// RequireTools fails the test when one of the programs it drives is
// missing, before it starts anything.
func RequireTools(t testing.TB, names ...string) {
	t.Helper()
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if _, err := exec.LookPath("/usr/sbin/" + n); err != nil {
				missing = append(missing, n)
			}
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%s not installed: `make tools` installs them", strings.Join(missing, ", "))
	}
}

// Output is what the program wrote so far (when StartProc kept it).
func (p *Proc) Output() string { return p.out.String() }

// Pid is the first process's ID, also its group's.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the first process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends sig to the first process.
func (p *Proc) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill kills the group at once (SIGKILL) and waits for the first process.
func (p *Proc) Kill() {
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM to the first process and returns how it exited; a
// process still running after d is killed and reported as an error.
func (p *Proc) Stop(d time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.Kill()
		return fmt.Errorf("%s still running %v after SIGTERM", p.Name, d)
	}
}

// WaitFor polls cond like WaitFor, failing the test with the program's
// output when d passes first or when it exits meanwhile.
func (p *Proc) WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := p.await(d, cond); err != nil {
		t.Fatalf("waiting for %s: %v; %s output:\n%s", what, err, p.Name, p.Output())
	}
}

// WaitOutput waits until re matches the program's output (a line a
// server logs once it listens: its address, when it was given port 0) and
// returns the match and its groups, failing as WaitFor does.
func (p *Proc) WaitOutput(t testing.TB, d time.Duration, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	p.WaitFor(t, d, fmt.Sprintf("output matching %q", re), func() bool {
		m = re.FindStringSubmatch(p.Output())
		return m != nil
	})
	return m
}

func (p *Proc) await(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v", p.Name, p.err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// Builds builds Go commands for the tests of one package, each command
// and set of flags once, into a folder that Close removes: call it from
// TestMain after m.Run. The zero value is ready.
type Builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]*built
}

type built struct {
	once sync.Once
	path string
	err  error
}

// Binary builds the main package pkg (a folder, built from inside, or an
// import path) with
// ldflags ("" for none), the first time it is asked for, and returns the
// binary's path.
func (b *Builds) Binary(t testing.TB, pkg, ldflags string) string {
	t.Helper()
	b.mu.Lock()
	if b.dir == "" {
		dir, err := os.MkdirTemp("", "testutil-builds-")
		if err != nil {
			b.mu.Unlock()
			t.Fatal(err)
		}
		b.dir, b.bins = dir, map[string]*built{}
	}
	key := pkg + "\x00" + ldflags
	bin := b.bins[key]
	if bin == nil {
		bin = &built{path: filepath.Join(b.dir, fmt.Sprintf("bin%d", len(b.bins)))}
		b.bins[key] = bin
	}
	b.mu.Unlock()
	bin.once.Do(func() {
		args := []string{"build", "-o", bin.path}
		if ldflags != "" {
			args = append(args, "-ldflags", ldflags)
		}
		cmd := exec.Command("go", append(args, pkg)...)
		if st, err := os.Stat(pkg); err == nil && st.IsDir() {
			cmd = exec.Command("go", append(args, ".")...)
			cmd.Dir = pkg // in its own module, if it has one
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			bin.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	return bin.path
}

// Close removes what was built.
func (b *Builds) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
		b.dir, b.bins = "", nil
	}
}
