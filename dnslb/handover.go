package dnslb

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/dnslb/dnslb/health"
)

// Upgrader hands listening sockets and state to a new process at a binary
// upgrade; dnslb/upgrade implements it with cloudflare/tableflip.
type Upgrader interface {
	// Fd returns the socket passed on as name, or -1; Pass passes one on.
	Fd(name string) (int, error)
	Pass(name string, fd int) error
	// Listener returns the listener passed on as name or opens one, and
	// passes it on.
	Listener(name string, open func() (net.Listener, error)) (net.Listener, error)
	State() ([]byte, error)     // what the previous process passed on; nil if none
	Upgrade(state []byte) error // starts the new binary and waits until it serves
	Ready() error               // this process serves: the previous one may go
	Exit() <-chan struct{}      // closed once a new process has taken over
}

// handoverState is what an old process passes to its successor beside the
// sockets: every target's health and every override, so that the new
// process answers from its first query exactly as the old one did.
type handoverState struct {
	Version   int             `json:"version"`
	Targets   []health.Saved  `json:"targets"`
	Overrides []stateOverride `json:"overrides"`
}

// ErrNoUpgrader is returned by Upgrade when the server was built without one.
var ErrNoUpgrader = errors.New("upgrades are not available: the server was started without an upgrader")

// Upgrade starts the binary the process was started from and hands it the
// sockets and state. It returns nil once the new process serves (this one
// then finishes what is in flight and Run returns), or the reason it did
// not, in which case this process goes on serving.
func (s *Server) Upgrade() error {
	if s.opts.Upgrader == nil {
		return ErrNoUpgrader
	}
	s.upgradeMu.Lock()
	defer s.upgradeMu.Unlock()
	st := handoverState{Version: 1, Targets: s.prober.Save(), Overrides: s.states.overrides()}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	s.log.Info("upgrade: starting the new binary", "targets", len(st.Targets), "overrides", len(st.Overrides))
	// No update (nor reload) while the new process reads the zones and
	// their journals, and none at all once it serves: an update this
	// process accepted after that would be in the journal but not in the
	// new process's zone.
	s.reloading <- struct{}{} // the reload slot: a reload is bounded by reload_timeout
	defer func() { <-s.reloading }()
	if err := s.opts.Upgrader.Upgrade(b); err != nil {
		s.log.Error("upgrade failed; this process keeps serving", "err", err)
		return err
	}
	s.handedOver.Store(true)
	s.log.Info("upgrade: the new process serves; finishing queries in flight")
	return nil
}

// restoreHandover applies the state an old process passed on, before the
// first snapshot is built.
func (s *Server) restoreHandover() error {
	if s.opts.Upgrader == nil {
		return nil
	}
	b, err := s.opts.Upgrader.State()
	if err != nil || b == nil {
		return err
	}
	var st handoverState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("upgrade: state from the previous process: %w", err)
	}
	s.prober.Restore(st.Targets)
	if err := s.states.apply(st.Overrides); err != nil {
		return fmt.Errorf("upgrade: state from the previous process: %w", err)
	}
	s.inherited = true
	s.log.Info("upgrade: state taken over from the previous process", "targets", len(st.Targets), "overrides", len(st.Overrides))
	return nil
}

// exiting is closed when a new process has taken over; nil without an
// upgrader.
func (s *Server) exiting() <-chan struct{} {
	if s.opts.Upgrader == nil {
		return nil
	}
	return s.opts.Upgrader.Exit()
}

// overrides lists the overrides in force.
func (s *memberStates) overrides() []stateOverride {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []stateOverride
	for k, st := range s.m {
		if ov := st.override.Load(); ov != overrideNone {
			out = append(out, stateOverride{Pool: k.pool, Address: k.addr.String(), Override: overrideNames[ov], Since: time.Unix(0, st.since.Load()).UTC()})
		}
	}
	return out
}

// apply sets overrides (handed over, hence already persisted) in memory.
func (s *memberStates) apply(list []stateOverride) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range list {
		a, err := netip.ParseAddr(o.Address)
		if err != nil {
			return fmt.Errorf("pool %s: %w", o.Pool, err)
		}
		ov, err := parseOverride(o.Override)
		if err != nil {
			return fmt.Errorf("pool %s member %s: %w", o.Pool, a, err)
		}
		st := s.getLocked(memberKey{o.Pool, a})
		st.override.Store(ov)
		st.since.Store(o.Since.UnixNano())
	}
	s.gen.Add(1)
	return nil
}

// signalReady tells the upgrader (and through it the previous process and
// systemd) that every listener serves.
func (s *Server) signalReady() {
	if s.opts.Upgrader == nil {
		return
	}
	if err := s.opts.Upgrader.Ready(); err != nil {
		s.log.Error("cannot signal readiness", "err", err)
	}
}

// listenHTTP opens (or, after an upgrade, takes over) the HTTP listener.
func (s *Server) listenHTTP(addr string) (net.Listener, error) {
	open := func() (net.Listener, error) { return net.Listen("tcp", addr) }
	if s.opts.Upgrader == nil {
		return open()
	}
	return s.opts.Upgrader.Listener("http "+addr, open)
}

// handoverIdle is how long, once a new process has taken over, a TCP
// connection may stay idle before this process closes it: clients with a
// query on the way get it answered, idle ones reconnect to the new process.
const handoverIdle = time.Second

// endConn ends a TCP connection when Run stops: at once at shutdown, after
// its query in flight and a short idle wait at an upgrade.
func (s *Server) endConn(c net.Conn) {
	if s.handingOver.Load() {
		_ = c.SetReadDeadline(time.Now().Add(handoverIdle))
		return
	}
	c.Close()
}

// handleUpgrade replaces the binary (see Upgrade); 200 once the new process
// serves, 500 with the reason (this process going on) otherwise.
func (s *Server) handleUpgrade(w http.ResponseWriter, _ *http.Request) {
	if err := s.Upgrade(); err != nil {
		writeJSONError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}
