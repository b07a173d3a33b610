package testutil

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Backend is a real server on a loopback address that health checks
// probe: tcp (a bare listener), http, https (httptest's certificate, for
// example.com) or dns. It can be stopped (connections refused) and
// restarted, made to answer another status, or to hang.
type Backend struct {
	Kind   string       // tcp | http | https | dns
	Status atomic.Int32 // http(s): the status answered (200); dns: the rcode (0)

	mu     sync.Mutex
	addr   string // host:port
	stopFn func()
	hang   chan struct{} // http(s): requests wait on it while not nil
	cert   *tls.Certificate
	wg     sync.WaitGroup // serving goroutines
}

// StartBackend serves a backend of kind on addr (host:port; port 0 picks
// one).
func StartBackend(kind, addr string) (*Backend, error) {
	b := &Backend{Kind: kind, addr: addr}
	if kind == "http" || kind == "https" {
		b.Status.Store(200)
	}
	if kind == "https" {
		b.cert = cert()
	}
	if err := b.listen(); err != nil {
		return nil, err
	}
	return b, nil
}

// StartBackends starts one backend of kind on each of hosts (127.0.0.x),
// all on one port, and returns them and the port.
func StartBackends(kind string, hosts ...string) ([]*Backend, int, error) {
	var last error
	for range 20 {
		var bs []*Backend
		port := 0
		for _, h := range hosts {
			b, err := StartBackend(kind, net.JoinHostPort(h, strconv.Itoa(port)))
			if err != nil {
				last = err
				break
			}
			port = b.Port()
			bs = append(bs, b)
		}
		if len(bs) == len(hosts) {
			return bs, port, nil
		}
		for _, b := range bs {
			b.Close()
		}
	}
	return nil, 0, fmt.Errorf("no common free port on %v: %w", hosts, last)
}

// Backends is StartBackends for a test: it fails the test on error and
// closes the backends when it ends.
func Backends(t testing.TB, kind string, hosts ...string) ([]*Backend, int) {
	t.Helper()
	bs, port, err := StartBackends(kind, hosts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		t.Cleanup(b.Close)
	}
	return bs, port
}

func (b *Backend) listen() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Kind == "dns" {
		pc, err := net.ListenPacket("udp", b.addr)
		if err != nil {
			return err
		}
		b.addr = pc.LocalAddr().String()
		srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Rcode = int(b.Status.Load())
			_ = w.WriteMsg(m)
		})}
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			_ = srv.ActivateAndServe()
		}()
		<-started
		b.stopFn = func() { _ = srv.Shutdown() }
		return nil
	}
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		return err
	}
	b.addr = ln.Addr().String()
	b.wg.Add(1)
	switch b.Kind {
	case "tcp":
		go func() {
			defer b.wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		b.stopFn = func() { ln.Close() }
	case "http", "https":
		srv := &http.Server{Handler: http.HandlerFunc(b.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			defer b.wg.Done()
			if b.cert != nil {
				srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*b.cert}}
				_ = srv.ServeTLS(ln, "", "")
			} else {
				_ = srv.Serve(ln)
			}
		}()
		b.stopFn = func() { _ = srv.Close() }
	default:
		ln.Close()
		b.wg.Done()
		return fmt.Errorf("backend kind %q: use tcp, http, https or dns", b.Kind)
	}
	return nil
}

func (b *Backend) serveHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	hang := b.hang
	b.mu.Unlock()
	if hang != nil {
		select {
		case <-r.Context().Done(): // the prober gave up
		case <-hang:
		}
	}
	w.WriteHeader(int(b.Status.Load()))
	fmt.Fprintln(w, "ok")
}

// Stop closes the backend: connections are refused, probes fail.
func (b *Backend) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setHang(false)
	if b.stopFn != nil {
		b.stopFn()
		b.stopFn = nil
	}
}

// Restart listens again on the same address, retrying while the port is
// still held by the connections just closed.
func (b *Backend) Restart() error {
	for i := 0; ; i++ {
		err := b.listen()
		if err == nil {
			return nil
		}
		if i > 100 || !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("restart %s: %w", b.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Hang makes http(s) requests wait without an answer (the probe times out)
// while on; off releases them.
func (b *Backend) Hang(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setHang(on)
}

func (b *Backend) setHang(on bool) {
	switch {
	case on && b.hang == nil:
		b.hang = make(chan struct{})
	case !on && b.hang != nil:
		close(b.hang)
		b.hang = nil
	}
}

// Close stops the backend and waits for its goroutines.
func (b *Backend) Close() {
	b.Stop()
	b.wg.Wait()
}

// Addr is the backend's host:port.
func (b *Backend) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// Host is the backend's address without the port.
func (b *Backend) Host() string {
	h, _, _ := net.SplitHostPort(b.Addr())
	return h
}

// Port is the backend's port.
func (b *Backend) Port() int {
	_, p, _ := net.SplitHostPort(b.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// cert is httptest's certificate, valid for example.com.
func cert() *tls.Certificate {
	s := httptest.NewUnstartedServer(nil)
	s.StartTLS()
	defer s.Close()
	c := s.TLS.Certificates[0]
	return &c
}

// WriteCA writes the https backends' certificate (httptest's self-signed
// one is its own root) as PEM into dir, for a check's ca_file, and returns
// its path.
func WriteCA(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert().Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// MustRestart is Restart for a test: it fails the test on error.
func (b *Backend) MustRestart(t testing.TB) {
	t.Helper()
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
}
