package dnslb

import (
	_ "embed"
	"net/http"
)

//go:embed status.html
var statusPage []byte

// handleStatusPage serves the HTML status page; it fetches
// /api/v1/status itself and refreshes every few seconds.
func (s *Server) handleStatusPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
	_, _ = w.Write(statusPage)
}
