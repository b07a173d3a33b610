package dnslb

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dnslb/dnslb/dnslb/config"
)

// serveHTTP runs the HTTP side until ctx is done: /metrics, /healthz,
// /readyz, /status and the JSON API under /api/v1/.
func (s *Server) serveHTTP(ctx context.Context, ln net.Listener) error {
	c := s.snap.Load().cfg.Server
	lim := newConnLimiter(ln, c.HTTPMaxConnections, s.metrics.httpShed)
	hs := &http.Server{
		Handler:           s.httpHandler(),
		ReadHeaderTimeout: c.HTTPHeaderTimeout,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       c.HTTPIdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ConnState:         lim.connState,
		ErrorLog:          nil,
	}
	s.httpLimiter.Store(lim)
	stop := context.AfterFunc(ctx, func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutdown)
	})
	defer stop()
	if err := hs.Serve(lim); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	open := http.NewServeMux() // answered whatever the Host: they reveal nothing
	open.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	open.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", s.handleStatusPage)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/status", http.StatusFound)
	})
	mux.HandleFunc("GET /api/v1/status", s.handleStatusJSON)
	mux.HandleFunc("POST /api/v1/reload", s.admin(s.handleReload))
	mux.HandleFunc("POST /api/v1/upgrade", s.admin(s.handleUpgrade))
	mux.HandleFunc("POST /api/v1/pools/{pool}/members/{member}/override", s.admin(s.handleOverride))
	open.Handle("/", s.checkHost(mux))
	return open
}

// handleReady: config loaded, listeners serving, first health round done.
func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	var missing []string
	if s.snap.Load() == nil {
		missing = append(missing, "config not loaded")
	}
	if !s.ready.Load() {
		missing = append(missing, "listeners not serving")
	}
	if !s.prober.FirstRoundDone() {
		missing = append(missing, "first health round not done")
	}
	if len(missing) > 0 {
		http.Error(w, "not ready: "+strings.Join(missing, ", "), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// admin wraps a mutating handler: the bearer token from admin_token_file is
// required and compared in constant time; it is never logged.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		file := s.snap.Load().cfg.Server.AdminTokenFile
		if file == "" {
			writeJSONError(w, http.StatusForbidden, "mutating calls are disabled: set [server] admin_token_file")
			return
		}
		want, err := config.ReadToken(file)
		if err != nil || want == "" {
			s.log.Error("admin token unreadable; refusing the call", "file", file, "err", err)
			writeJSONError(w, http.StatusInternalServerError, "the admin token file cannot be read")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dnslb"`)
			writeJSONError(w, http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <token from admin_token_file>")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		h(w, r)
	}
}

func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	if err := s.ReloadContext(r.Context()); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"ok": false, "errors": strings.Split(err.Error(), "\n")})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "sha256": s.snap.Load().cfg.Hash})
}

// handleOverride sets a member's override: {"override": "drain" | "up" |
// "down" | "none"}.
func (s *Server) handleOverride(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Override string `json:"override"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("body: %v; send {\"override\": \"drain\"|\"up\"|\"down\"|\"none\"}", err))
		return
	}
	ov, err := parseOverride(body.Override)
	if err != nil || body.Override == "" {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("override %q: use drain, up, down or none", body.Override))
		return
	}
	poolName := dns.CanonicalName(r.PathValue("pool"))
	addr, err := netip.ParseAddr(r.PathValue("member"))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("member %q is not an IP address", r.PathValue("member")))
		return
	}
	addr = addr.Unmap()
	p := s.snap.Load().poolByName[poolName]
	if p == nil {
		writeJSONError(w, http.StatusNotFound, fmt.Sprintf("no pool %s", poolName))
		return
	}
	if p.member(addr) == nil {
		writeJSONError(w, http.StatusNotFound, fmt.Sprintf("pool %s has no member %s", poolName, addr))
		return
	}
	now := time.Now()
	if err := s.states.setOverride(poolName, addr, ov, now); err != nil {
		s.log.Error("override not saved", "pool", poolName, "member", addr.String(), "err", err)
		writeJSONError(w, http.StatusInternalServerError, "override not applied: "+err.Error())
		return
	}
	if s.cl != nil {
		s.cl.setOverride(poolName, addr, ov, now)
	}
	s.log.Info("override set", "pool", poolName, "member", addr.String(), "override", overrideNames[ov], "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "pool": poolName, "member": addr.String(), "override": overrideNames[ov]})
}

// member returns the pool's member with address a, or nil.
func (p *pool) member(a netip.Addr) *member {
	for _, f := range p.families {
		if f == nil {
			continue
		}
		for _, m := range f.members {
			if m.addr == a {
				return m
			}
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"ok": false, "error": msg})
}
