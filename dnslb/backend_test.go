package dnslb

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
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/miekg/dns"
)

// backend is a real server on a loopback address that health checks probe:
// tcp (a bare listener), http, https or dns. The test stops and restarts it,
// or makes it answer 503.
type backend struct {
	t      testing.TB
	kind   string
	addr   string // host:port
	mu     sync.Mutex
	ln     net.Listener
	pc     net.PacketConn
	stopFn func()
	status atomic.Int32 // http(s): the status to answer
	cert   *tls.Certificate
}

// startBackends starts one backend of kind on each of hosts (127.0.0.x),
// all on one port, and returns them and the port.
func startBackends(t testing.TB, kind string, hosts ...string) ([]*backend, int) {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		var bs []*backend
		port := 0
		ok := true
		for _, h := range hosts {
			b := &backend{t: t, kind: kind, addr: net.JoinHostPort(h, fmt.Sprint(port))}
			b.status.Store(200)
			if kind == "https" {
				b.cert = testCert(t)
			}
			if err := b.listen(); err != nil {
				ok = false
				break
			}
			if port == 0 {
				_, p, _ := net.SplitHostPort(b.addr)
				fmt.Sscan(p, &port)
			}
			bs = append(bs, b)
		}
		if ok {
			for _, b := range bs {
				t.Cleanup(b.stop)
			}
			return bs, port
		}
		for _, b := range bs {
			b.stop()
		}
	}
	t.Fatalf("no common free port on %v", hosts)
	return nil, 0
}

// testCert is httptest's certificate, valid for example.com.
func testCert(t testing.TB) *tls.Certificate {
	s := httptest.NewUnstartedServer(nil)
	s.StartTLS()
	defer s.Close()
	c := s.TLS.Certificates[0]
	return &c
}

// writeCA writes the test certificate's issuer (httptest's self-signed
// certificate is its own root) as PEM, for a check's ca_file.
func writeCA(t testing.TB, dir string) string {
	c := testCert(t)
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (b *backend) listen() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.kind {
	case "dns":
		pc, err := net.ListenPacket("udp", b.addr)
		if err != nil {
			return err
		}
		b.addr = pc.LocalAddr().String()
		srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Rcode = int(b.status.Load()) // 0 = NOERROR; a test may set NXDOMAIN
			_ = w.WriteMsg(m)
		})}
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		b.pc = pc
		b.stopFn = func() { _ = srv.Shutdown() }
		b.status.Store(0)
		return nil
	}
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		return err
	}
	b.addr = ln.Addr().String()
	b.ln = ln
	switch b.kind {
	case "tcp":
		go func() {
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
		h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(int(b.status.Load()))
			fmt.Fprintln(w, "ok")
		})
		srv := &http.Server{Handler: h}
		if b.kind == "https" {
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*b.cert}}
			go func() { _ = srv.ServeTLS(ln, "", "") }()
		} else {
			go func() { _ = srv.Serve(ln) }()
		}
		b.stopFn = func() { _ = srv.Close() }
	}
	return nil
}

// stop closes the backend: probes now fail.
func (b *backend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopFn != nil {
		b.stopFn()
		b.stopFn = nil
	}
}

// restart listens again on the same address.
func (b *backend) restart() {
	b.t.Helper()
	for i := 0; ; i++ {
		err := b.listen()
		if err == nil {
			return
		}
		if i > 100 || !errors.Is(err, syscall.EADDRINUSE) {
			b.t.Fatalf("restart %s: %v", b.addr, err)
		}
	}
}

func (b *backend) host() string {
	h, _, _ := net.SplitHostPort(b.addr)
	return h
}
