package health

import (
	"context"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// serve127 starts srv on 127.0.0.1 (httptest's default may fall back to
// ::1), plain or with TLS.
func serve127(t *testing.T, h http.Handler, tls bool) (*httptest.Server, uint16) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = listen127(t)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point of some tests
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, portOf(t, srv.Listener.Addr())
}

func testHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "all good") })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down for maintenance", 503) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/fail", http.StatusFound) })
	mux.HandleFunc("/load", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Load", " 0.75 ")
		w.Header().Set("X-Bad-Load", "high")
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "host="+r.Host) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("a", 100<<10)))
		io.WriteString(w, "needle")
	})
	return mux
}

func TestProbeHTTP(t *testing.T) {
	_, port := serve127(t, testHandler(), false)
	tests := []struct {
		name       string
		edit       func(*Check)
		wantReason string // "" = OK
		wantLoad   float64
		hasLoad    bool
	}{
		{"200", func(c *Check) { c.Path = "/ok" }, "", 0, false},
		{"503", func(c *Check) { c.Path = "/fail" }, ReasonStatus, 0, false},
		{"503 expected", func(c *Check) { c.Path, c.Expect = "/fail", []int{503} }, "", 0, false},
		{"200 not in expect", func(c *Check) { c.Path, c.Expect = "/ok", []int{204} }, ReasonStatus, 0, false},
		{"404 on a default path", nil, ReasonStatus, 0, false},
		{"body match", func(c *Check) { c.Path, c.Body = "/ok", "good" }, "", 0, false},
		{"body mismatch", func(c *Check) { c.Path, c.Body = "/ok", "bad" }, ReasonBody, 0, false},
		{"body beyond 64 KiB", func(c *Check) { c.Path, c.Body = "/big", "needle" }, ReasonBody, 0, false},
		{"302 is judged, not followed", func(c *Check) { c.Path, c.Expect = "/redirect", []int{302} }, "", 0, false},
		{"302 in the default range", func(c *Check) { c.Path = "/redirect" }, "", 0, false},
		{"302 not expected", func(c *Check) { c.Path, c.Expect = "/redirect", []int{200} }, ReasonStatus, 0, false},
		{"load header", func(c *Check) { c.Path, c.LoadHeader = "/load", "X-Load" }, "", 0.75, true},
		{"unparsable load header", func(c *Check) { c.Path, c.LoadHeader = "/load", "X-Bad-Load" }, "", 0, false},
		{"absent load header", func(c *Check) { c.Path, c.LoadHeader = "/ok", "X-Load" }, "", 0, false},
		{"host header", func(c *Check) { c.Path, c.Host, c.Body = "/host", "www.example.com", "host=www.example.com" }, "", 0, false},
		{"port defaults to the address's", func(c *Check) { c.Path, c.Body = "/host", "host=127.0.0.1:" }, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := probeCheck(TypeHTTP, port)
			if tt.edit != nil {
				tt.edit(c)
			}
			r := Probe(context.Background(), c, lo)
			if r.OK != (tt.wantReason == "") || r.Reason != tt.wantReason {
				t.Fatalf("got OK %v reason %q (%v), want reason %q", r.OK, r.Reason, r.Err, tt.wantReason)
			}
			if (r.Err != nil) == r.OK {
				t.Errorf("OK %v with Err %v", r.OK, r.Err)
			}
			if r.Err != nil && !strings.HasPrefix(r.Err.Error(), "health: GET http://127.0.0.1:") {
				t.Errorf("error without context: %v", r.Err)
			}
			if r.HasLoad != tt.hasLoad || r.Load != tt.wantLoad {
				t.Errorf("load %v, %v; want %v, %v", r.Load, r.HasLoad, tt.wantLoad, tt.hasLoad)
			}
		})
	}
}

func TestProbeHTTPS(t *testing.T) {
	srv, port := serve127(t, testHandler(), true)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate()) // valid for 127.0.0.1, ::1 and example.com
	tests := []struct {
		name       string
		edit       func(*Check)
		wantReason string
	}{
		{"verified against RootCAs", func(c *Check) { c.RootCAs = roots }, ""},
		{"unknown authority", nil, ReasonTLS},
		{"skip verify", func(c *Check) { c.TLSSkipVerify = true }, ""},
		{"host in the certificate", func(c *Check) { c.RootCAs, c.Host = roots, "example.com" }, ""},
		{"host not in the certificate", func(c *Check) { c.RootCAs, c.Host = roots, "www.example.org" }, ReasonTLS},
		{"status still judged", func(c *Check) { c.RootCAs, c.Path = roots, "/fail" }, ReasonStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := probeCheck(TypeHTTPS, port)
			c.Path = "/ok"
			if tt.edit != nil {
				tt.edit(c)
			}
			if r := Probe(context.Background(), c, lo); r.Reason != tt.wantReason || r.OK != (tt.wantReason == "") {
				t.Errorf("got OK %v reason %q (%v), want reason %q", r.OK, r.Reason, r.Err, tt.wantReason)
			}
		})
	}
}

func TestProbeHTTPSAgainstPlainHTTP(t *testing.T) {
	_, port := serve127(t, testHandler(), false)
	c := probeCheck(TypeHTTPS, port)
	c.TLSSkipVerify = true
	if r := Probe(context.Background(), c, lo); r.Reason != ReasonTLS {
		t.Errorf("https to a plain server: %q (%v), want %q", r.Reason, r.Err, ReasonTLS)
	}
}

func TestProbeHTTPTimeout(t *testing.T) {
	ln := listen127(t)
	acceptAndHold(t, ln) // connects, never answers
	for _, typ := range []Type{TypeHTTP, TypeHTTPS} {
		c := probeCheck(typ, portOf(t, ln.Addr()))
		c.Timeout = 100 * time.Millisecond
		if r := Probe(context.Background(), c, lo); r.OK || r.Reason != ReasonTimeout {
			t.Errorf("%s to a silent server: %q (%v), want %q", typ, r.Reason, r.Err, ReasonTimeout)
		}
	}
}

// TestProbeHTTPSTimeoutAfterHandshake: an https backend that completes the
// handshake and then never answers times out; the deadline's callback runs
// while the probe holds the TLS connection (under -race this was a data
// race on the connection variable).
func TestProbeHTTPSTimeoutAfterHandshake(t *testing.T) {
	release := make(chan struct{})
	_, port := serve127(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}), true)
	defer close(release)
	c := probeCheck(TypeHTTPS, port)
	c.TLSSkipVerify = true
	c.Timeout = 200 * time.Millisecond
	for range 3 {
		if r := Probe(context.Background(), c, lo); r.OK || r.Reason != ReasonTimeout {
			t.Errorf("https to a server that never answers: %q (%v), want %q", r.Reason, r.Err, ReasonTimeout)
		}
	}
}

func TestProbeHTTPRefused(t *testing.T) {
	if r := Probe(context.Background(), probeCheck(TypeHTTP, closedPort(t)), lo); r.Reason != ReasonRefused {
		t.Errorf("http to a closed port: %q (%v)", r.Reason, r.Err)
	}
}

func TestStatusOK(t *testing.T) {
	tests := []struct {
		expect []int
		code   int
		want   bool
	}{
		{nil, 200, true}, {nil, 399, true}, {nil, 199, false}, {nil, 400, false}, {nil, 503, false},
		{[]int{503}, 503, true}, {[]int{200, 204}, 204, true}, {[]int{200, 204}, 301, false},
	}
	for _, tt := range tests {
		if got := statusOK(tt.expect, tt.code); got != tt.want {
			t.Errorf("statusOK(%v, %d) = %v", tt.expect, tt.code, got)
		}
	}
	if s := expectString([]int{200, 204}); s != "200,204" {
		t.Errorf("expectString = %q", s)
	}
}
