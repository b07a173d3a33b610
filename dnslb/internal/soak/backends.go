package main

import (
	"fmt"
	"net/netip"
	"sync"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// failMode is how a stopped backend fails its health check.
type failMode int

const (
	modeUp     failMode = iota
	modeRefuse          // listener closed: connections are refused at once
	mode503             // answers 503 Service Unavailable
	modeHang            // accepts, reads the request, never answers: the probe times out
)

var modeNames = [...]string{"up", "refuse", "503", "hang"}

func (m failMode) String() string { return modeNames[m] }

// backend is one HTTP server a pool member's health check probes: the
// tests' backend (dnslb/testutil), with the mode it was stopped in.
type backend struct {
	*testutil.Backend
	mu   sync.Mutex
	mode failMode
}

// startBackends binds one backend on each member address, all on the same
// port (the check's), and serves them.
func startBackends(members [4]netip.Addr) ([]*backend, uint16, error) {
	var hosts []string
	for _, m := range members {
		hosts = append(hosts, m.String())
	}
	tbs, port, err := testutil.StartBackends("http", hosts...)
	if err != nil {
		return nil, 0, fmt.Errorf("backends (127.0.0.0/8 must all be loopback): %w", err)
	}
	var bs []*backend
	for _, b := range tbs {
		bs = append(bs, &backend{Backend: b})
	}
	return bs, uint16(port), nil
}

// stop makes the backend fail its checks in mode m.
func (b *backend) stop(m failMode) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch m {
	case modeRefuse:
		b.Stop()
	case mode503:
		b.Status.Store(503)
	case modeHang:
		b.Hang(true)
	}
	b.mode = m
}

// start brings the backend back up.
func (b *backend) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.mode {
	case modeRefuse:
		if err := b.Restart(); err != nil {
			return err
		}
	case mode503:
		b.Status.Store(200)
	case modeHang:
		b.Hang(false)
	}
	b.mode = modeUp
	return nil
}

// isUp reports whether the backend passes its checks.
func (b *backend) isUp() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mode == modeUp
}
