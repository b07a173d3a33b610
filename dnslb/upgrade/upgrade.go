// Package upgrade replaces the running binary without dropping a query, as
// nginx's binary upgrade and gdnsd's replace do: the running process starts
// the new binary (cloudflare/tableflip), hands it every listening socket and
// a blob of state through inherited file descriptors, and stops serving only
// once the new process says it is ready. A new binary that fails to start,
// or does not become ready in time, leaves the old one serving.
//
// The sockets themselves are shared, not reopened: both processes hold the
// same kernel sockets, so datagrams and connections queued during the
// hand-over are read by whichever process reads next and none is lost. The
// old process must therefore only stop reading (close its descriptors),
// never shut the sockets down.
package upgrade

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/cloudflare/tableflip"
	"golang.org/x/sys/unix"
)

// stateName is the inherited file that carries the state blob.
const stateName = "dnslb-state"

// Upgrader hands sockets and state to the next process at an upgrade. One
// per process (a tableflip limit).
type Upgrader struct {
	tf *tableflip.Upgrader
}

// Options configure an Upgrader.
type Options struct {
	PIDFile string        // written with the PID once the process is ready; "" = none
	Timeout time.Duration // a new process not ready by then is killed; default 1 minute
}

// New returns the process's Upgrader, with whatever the previous process
// (if any) passed on.
func New(o Options) (*Upgrader, error) {
	tf, err := tableflip.New(tableflip.Options{PIDFile: o.PIDFile, UpgradeTimeout: o.Timeout})
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	return &Upgrader{tf: tf}, nil
}

// Inherited reports whether this process was started by an upgrade.
func (u *Upgrader) Inherited() bool { return u.tf.HasParent() }

// Listener returns the TCP listener passed on as name, or opens one with
// open; either way it is passed on at the next upgrade.
func (u *Upgrader) Listener(name string, open func() (net.Listener, error)) (net.Listener, error) {
	f, err := u.tf.Fds.File(name)
	if err != nil {
		return nil, fmt.Errorf("upgrade: inherit %s: %w", name, err)
	}
	if f != nil { // already to be passed on again
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("upgrade: inherit %s: %w", name, err)
		}
		return ln, nil
	}
	ln, err := open()
	if err != nil {
		return nil, err
	}
	sc, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("upgrade: %s: a %T cannot be passed on", name, ln)
	}
	pf, err := sc.File()
	if err == nil {
		err = u.tf.Fds.AddFile(name, pf)
		pf.Close()
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("upgrade: pass on %s: %w", name, err)
	}
	return ln, nil
}

// Fd returns a descriptor of the socket passed on as name (it will be passed
// on again), or -1 when none was: the caller then opens one and calls Pass.
// Its blocking mode is left as the previous process had it.
func (u *Upgrader) Fd(name string) (int, error) {
	f, err := u.tf.Fds.File(name)
	if err != nil || f == nil {
		return -1, err
	}
	defer f.Close()
	return dupFile(f)
}

// Pass passes descriptor fd (a copy of it) on as name at the next upgrade.
func (u *Upgrader) Pass(name string, fd int) error {
	d, err := unix.Dup(fd)
	if err != nil {
		return fmt.Errorf("upgrade: pass on %s: %w", name, err)
	}
	f := os.NewFile(uintptr(d), name)
	defer f.Close()
	if err := u.tf.Fds.AddFile(name, f); err != nil {
		return fmt.Errorf("upgrade: pass on %s: %w", name, err)
	}
	return nil
}

// dupFile duplicates f's descriptor without changing its mode (os.File.Fd
// would make it blocking, for every process sharing it).
func dupFile(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	d := -1
	cerr := rc.Control(func(fd uintptr) {
		d, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	if cerr != nil {
		return -1, cerr
	}
	return d, err
}

// State returns the state the previous process passed on, nil when none.
func (u *Upgrader) State() ([]byte, error) {
	f, err := u.tf.Fds.File(stateName)
	if err != nil || f == nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("upgrade: inherited state: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("upgrade: inherited state: %w", err)
	}
	return b, nil
}

// Ready tells the previous process (which then stops serving and exits)
// and systemd (READY=1, MAINPID, when run with Type=notify) that this
// process serves, and writes the PID file.
func (u *Upgrader) Ready() error {
	// systemd first: once the previous process hears, it exits, and
	// systemd must know by then that the main process is this one.
	if err := notifySystemd("MAINPID=" + strconv.Itoa(os.Getpid()) + "\nREADY=1"); err != nil {
		return fmt.Errorf("upgrade: tell systemd: %w", err)
	}
	if err := u.tf.Ready(); err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	return nil
}

// Upgrade starts the binary at the path this process was started from, with
// the same arguments, passes it the sockets and state, and waits until it is
// ready (nil: this process must now stop serving; Exit is closed) or has
// failed (the error; this process goes on serving).
func (u *Upgrader) Upgrade(state []byte) error {
	f, err := anonymousFile(stateName)
	if err != nil {
		return fmt.Errorf("upgrade: state: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(state); err != nil {
		return fmt.Errorf("upgrade: state: %w", err)
	}
	if err := u.tf.Fds.AddFile(stateName, f); err != nil {
		return fmt.Errorf("upgrade: state: %w", err)
	}
	if err := u.tf.Upgrade(); err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	return nil
}

// Exit is closed once a new process has taken over: stop serving (without
// shutting the shared sockets down), finish what is in flight, exit.
func (u *Upgrader) Exit() <-chan struct{} { return u.tf.Exit() }

// Stop refuses further upgrades; call it when shutting down.
func (u *Upgrader) Stop() { u.tf.Stop() }

// notifySystemd sends an sd_notify(3) message when NOTIFY_SOCKET is set.
// The protocol is one datagram on a Unix socket; no library needed.
func notifySystemd(msg string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		return errors.Join(err, c.Close())
	}
	return nil
}
