package dnslb

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// serveTCP accepts connections until ctx is done. Connections beyond
// tcp_max_connections are closed at once, so that a flood of idle clients
// cannot starve the rest of memory or file descriptors.
func (s *Server) serveTCP(ctx context.Context, l *net.TCPListener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("tcp accept failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond): // e.g. out of file descriptors
			}
			continue
		}
		select {
		case s.tcpSlots <- struct{}{}:
		default:
			s.metrics.tcpRefused.Inc()
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.tcpSlots }()
			stop := context.AfterFunc(ctx, func() { s.endConn(c) })
			defer stop()
			s.serveConn(c, c.RemoteAddr().(*net.TCPAddr).AddrPort())
			c.Close()
		}()
	}
}

// serveConn answers queries on one connection in order (RFC 7766 §6.2.1.1
// allows pipelining; we read the next query as soon as one is answered).
// It closes after tcp_idle_timeout without a query, when a query takes
// longer than tcp_read_timeout to arrive once begun, after tcp_max_queries,
// or at the first unparseable message.
func (s *Server) serveConn(c net.Conn, src netip.AddrPort) {
	cfg := s.snap.Load().cfg.Server
	w := newWorker(s, true, s.tcpStats)
	r := bufio.NewReaderSize(c, 4096)
	msg := make([]byte, 65535)
	out := make([]byte, 0, 65537)
	for range cfg.TCPMaxQueries {
		_ = c.SetReadDeadline(time.Now().Add(s.idleTimeout(cfg.TCPIdleTimeout)))
		if _, err := r.Peek(1); err != nil {
			return // idle timeout, or the client closed
		}
		_ = c.SetReadDeadline(time.Now().Add(cfg.TCPReadTimeout))
		var lb [2]byte
		if _, err := io.ReadFull(r, lb[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(lb[:]))
		if _, err := io.ReadFull(r, msg[:n]); err != nil {
			return
		}
		resp := w.serve(msg[:n], src)
		if resp == nil {
			return
		}
		out = binary.BigEndian.AppendUint16(out[:0], uint16(len(resp)))
		out = append(out, resp...)
		_ = c.SetWriteDeadline(time.Now().Add(cfg.TCPReadTimeout))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
