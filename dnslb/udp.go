package dnslb

import (
	"context"
	"errors"
	"net"
)

// serveUDPSimple answers on one socket, one datagram per system call: the
// portable loop, used where batch I/O is not available.
func (s *Server) serveUDPSimple(ctx context.Context, c *net.UDPConn) {
	w := newWorker(s, false, s.newStats())
	rerr := newReadErrors(s.log, &w.stats.readErrors)
	buf := make([]byte, 65535)
	for {
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			rerr.failed(ctx, c.LocalAddr().String(), err) // e.g. ICMP errors surfacing on the socket
			continue
		}
		rerr.ok()
		if resp := w.serve(buf[:n], src); resp != nil {
			_, _ = c.WriteToUDPAddrPort(resp, src) // a lost datagram is the resolver's to retry
		}
	}
}
