package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
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

// backend is one HTTP server a pool member's health check probes. While up it
// answers GET /healthz with 200; stopped, it fails in its failMode.
type backend struct {
	addr netip.AddrPort

	mu      sync.Mutex
	mode    failMode
	srv     *http.Server  // nil while refusing
	release chan struct{} // closed when a hang ends
	wg      *sync.WaitGroup
}

// startBackends binds one backend on each member address, all on the same
// port (the check's), and serves them.
func startBackends(members [4]netip.Addr) ([]*backend, uint16, *sync.WaitGroup, error) {
	wg := new(sync.WaitGroup)
	for range 50 {
		first, err := net.Listen("tcp", netip.AddrPortFrom(members[0], 0).String())
		if err != nil {
			return nil, 0, nil, fmt.Errorf("backend on %s: %w (127.0.0.0/8 must all be loopback)", members[0], err)
		}
		port := first.Addr().(*net.TCPAddr).AddrPort().Port()
		lns := []net.Listener{first}
		for _, m := range members[1:] {
			ln, err := net.Listen("tcp", netip.AddrPortFrom(m, port).String())
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) < len(members) {
			for _, ln := range lns {
				ln.Close()
			}
			continue
		}
		var bs []*backend
		for i, m := range members {
			b := &backend{addr: netip.AddrPortFrom(m, port), release: make(chan struct{}), wg: wg}
			b.serve(lns[i])
			bs = append(bs, b)
		}
		return bs, port, wg, nil
	}
	return nil, 0, nil, errors.New("no port free on all of 127.0.9.1-4")
}

// serve starts an HTTP server on ln. The caller holds b.mu or owns b alone.
func (b *backend) serve(ln net.Listener) {
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 2 * time.Second}
	b.srv = srv
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		_ = srv.Serve(ln) // ErrServerClosed when stopped
	}()
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != checkPath {
		http.NotFound(w, r)
		return
	}
	b.mu.Lock()
	mode, release := b.mode, b.release
	b.mu.Unlock()
	switch mode {
	case modeUp:
		w.Write([]byte("ok\n"))
		return
	case modeHang:
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		select {
		case <-r.Context().Done(): // the prober gave up
		case <-release:
		case <-t.C:
		}
	}
	http.Error(w, "soak: backend stopped", http.StatusServiceUnavailable)
}

// stop makes the backend fail its checks in mode m.
func (b *backend) stop(m failMode) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mode = m
	if m == modeRefuse && b.srv != nil {
		b.srv.Close() // the listener and every connection
		b.srv = nil
	}
}

// start brings the backend back up.
func (b *backend) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv == nil {
		var ln net.Listener
		var err error
		for range 20 { // the port was ours a moment ago; retry a busy moment
			if ln, err = net.Listen("tcp", b.addr.String()); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("restart backend %s: %w", b.addr, err)
		}
		b.serve(ln)
	}
	if b.mode == modeHang {
		close(b.release)
		b.release = make(chan struct{})
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

// close stops the backend for good, ending any hanging request.
func (b *backend) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mode == modeHang {
		close(b.release)
		b.release = make(chan struct{})
	}
	if b.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if b.srv.Shutdown(ctx) != nil {
			b.srv.Close()
		}
		b.srv = nil
	}
}
