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
		}()
	}
}

// tcpBuffers is what a connection needs while it answers: a worker with
// its scratch space, a read buffer and room for a message and its
// response (some 200 KB in all). A connection takes one from the server's
// pool when a query arrives and gives it back as soon as nothing is left
// to read, so that idle connections — a thousand of them by default — hold
// none.
type tcpBuffers struct {
	w   *worker
	r   *bufio.Reader
	msg []byte
	out []byte
}

func (s *Server) newTCPBuffers() any {
	return &tcpBuffers{
		w:   newWorker(s, true, s.tcpStats),
		r:   bufio.NewReaderSize(nil, 4096),
		msg: make([]byte, 65535),
		out: make([]byte, 0, 65537),
	}
}

// busyIdleTimeout is the idle timeout once more than half the TCP slots
// are taken (RFC 7766 §6.2.3 lets a server shorten it under load), so that
// clients that ask now and then cannot keep every slot to themselves.
const busyIdleTimeout = 250 * time.Millisecond

// idleTimeout is how long a TCP connection waits for its next query:
// shorter under load, and shorter still while a new process takes the
// sockets over (handoverIdle).
func (s *Server) idleTimeout(configured time.Duration) time.Duration {
	if len(s.tcpSlots) > cap(s.tcpSlots)/2 {
		configured = min(configured, busyIdleTimeout)
	}
	if s.handingOver.Load() {
		configured = min(configured, handoverIdle)
	}
	return configured
}

// serveConn answers queries on one connection in order (RFC 7766 §6.2.1.1
// allows pipelining; we read the next query as soon as one is answered).
// It closes after the idle timeout without a query, when a query takes
// longer than tcp_read_timeout to arrive once begun, after tcp_max_queries,
// or at the first message that gets no response; every query read before
// then is answered, and the close lets the answers reach the client.
func (s *Server) serveConn(c net.Conn, src netip.AddrPort) {
	cfg := s.snap.Load().cfg.Server
	var b *tcpBuffers
	defer func() {
		if b != nil {
			s.putTCPBuffers(b)
		}
		closeGracefully(c, min(cfg.TCPReadTimeout, maxLinger))
	}()
	var lb [2]byte
	for range cfg.TCPMaxQueries {
		if b == nil || b.r.Buffered() == 0 {
			// Nothing pipelined: wait without buffers.
			if b != nil {
				s.putTCPBuffers(b)
				b = nil
			}
			_ = c.SetReadDeadline(time.Now().Add(s.idleTimeout(cfg.TCPIdleTimeout)))
			if _, err := io.ReadFull(c, lb[:1]); err != nil {
				return // idle timeout, or the client closed
			}
			b = s.tcpBufs.Get().(*tcpBuffers)
			b.r.Reset(c)
			_ = c.SetReadDeadline(time.Now().Add(cfg.TCPReadTimeout))
			if _, err := io.ReadFull(b.r, lb[1:]); err != nil {
				return
			}
		} else {
			_ = c.SetReadDeadline(time.Now().Add(cfg.TCPReadTimeout))
			if _, err := io.ReadFull(b.r, lb[:]); err != nil {
				return
			}
		}
		n := int(binary.BigEndian.Uint16(lb[:]))
		if _, err := io.ReadFull(b.r, b.msg[:n]); err != nil {
			return
		}
		resp := b.w.serve(b.msg[:n], src)
		if resp == nil {
			return
		}
		b.out = binary.BigEndian.AppendUint16(b.out[:0], uint16(len(resp)))
		b.out = append(b.out, resp...)
		_ = c.SetWriteDeadline(time.Now().Add(cfg.TCPReadTimeout))
		if _, err := c.Write(b.out); err != nil {
			return
		}
	}
}

// putTCPBuffers returns b to the pool, holding no connection.
func (s *Server) putTCPBuffers(b *tcpBuffers) {
	b.r.Reset(nil)
	s.tcpBufs.Put(b)
}

// maxLinger bounds how long a closing connection keeps its slot while the
// client reads its last answers and closes its side.
const maxLinger = 2 * time.Second

// closeGracefully ends a connection without destroying answers in flight:
// closing a socket with unread data makes the kernel send a reset, and a
// reset makes the client's kernel throw away what it had received but not
// yet read. So: FIN after the last answer, then read and discard what the
// client still sends (queries beyond the limit, which it will ask again
// elsewhere) until it closes too, for at most linger.
func closeGracefully(c net.Conn, linger time.Duration) {
	defer c.Close()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(linger))
	var sink [512]byte
	for {
		if _, err := c.Read(sink[:]); err != nil {
			return
		}
	}
}
