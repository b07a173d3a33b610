package dnslb

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// openAddr is listenAddr through the upgrader: the sockets the previous
// process passed on for listen (named by the config's spelling, so that
// port 0 finds its port again) are served as they are — every UDP socket of
// the SO_REUSEPORT group, even beyond workers, so that none is closed with
// datagrams queued — and what is missing is opened and passed on.
func (s *Server) openAddr(listen string, ap netip.AddrPort, workers int) ([]*udpSocket, *net.TCPListener, error) {
	u := s.opts.Upgrader
	if u == nil {
		return listenAddr(ap, workers)
	}
	var socks []*udpSocket
	fail := func(err error) ([]*udpSocket, *net.TCPListener, error) {
		for _, c := range socks {
			c.release()
		}
		return nil, nil, err
	}
	for i := 0; ; i++ {
		name := fmt.Sprintf("dns udp %s %d", listen, i)
		fd, err := u.Fd(name)
		if err != nil {
			return fail(err)
		}
		if fd >= 0 {
			got, err := unix.Getsockname(fd)
			if err != nil {
				unix.Close(fd)
				return fail(fmt.Errorf("inherited udp %s: %w", listen, err))
			}
			socks = append(socks, adoptUDP(fd, ap, got))
			continue
		}
		if i >= workers {
			break
		}
		at := ap
		if len(socks) > 0 {
			at = socks[0].local // port 0: the group's port
		}
		c, err := openUDP(at)
		if err != nil {
			return fail(fmt.Errorf("listen udp %s: %w", at, err))
		}
		socks = append(socks, c)
		if err := u.Pass(name, c.fd); err != nil {
			return fail(err)
		}
	}
	ln, err := u.Listener("dns tcp "+listen, func() (net.Listener, error) { return listenTCP(socks[0].local) })
	if err != nil {
		return fail(fmt.Errorf("listen tcp %s: %w", socks[0].local, err))
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		ln.Close()
		return fail(fmt.Errorf("inherited tcp %s: not a TCP listener", listen))
	}
	return socks, tl, nil
}
