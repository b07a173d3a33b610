package dnslb

import (
	"net"
	"net/http"
	"sync"
)

// connLimiter bounds the HTTP side's open connections, so that clients
// holding keep-alive connections cannot take the descriptors the DNS
// listeners and the health probes need. At the limit a new connection
// closes an idle keep-alive one to take its place (its client reconnects
// when it next needs to), or is closed itself when none is idle.
// netutil.LimitListener would instead stop accepting, leaving a scrape
// queued behind idle holders until their idle timeout.
type connLimiter struct {
	net.Listener
	max     int
	onShed  func(evicted bool) // counts what was closed; may be nil
	mu      sync.Mutex
	open    map[net.Conn]bool // accepted and not closed → idle (between requests)
	shedNew int               // connections closed at once (for tests)
}

func newConnLimiter(ln net.Listener, max int, onShed func(evicted bool)) *connLimiter {
	return &connLimiter{Listener: ln, max: max, onShed: onShed, open: make(map[net.Conn]bool)}
}

// Accept returns the next connection, making room for it when at the limit.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		var victim net.Conn
		if len(l.open) >= l.max {
			for oc, idle := range l.open {
				if idle {
					victim = oc
					break
				}
			}
			if victim == nil {
				l.shedNew++
				l.mu.Unlock()
				c.Close()
				l.shed(false)
				continue
			}
			delete(l.open, victim)
		}
		l.open[c] = false
		l.mu.Unlock()
		if victim != nil {
			victim.Close()
			l.shed(true)
		}
		return c, nil
	}
}

func (l *connLimiter) shed(evicted bool) {
	if l.onShed != nil {
		l.onShed(evicted)
	}
}

// connState is the http.Server's ConnState hook: it tells the limiter
// which connections are idle and which are gone.
func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateIdle:
		if _, ok := l.open[c]; ok {
			l.open[c] = true
		}
	case http.StateActive:
		if _, ok := l.open[c]; ok {
			l.open[c] = false
		}
	case http.StateClosed, http.StateHijacked:
		delete(l.open, c)
	}
}

// count is the number of open connections.
func (l *connLimiter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}
