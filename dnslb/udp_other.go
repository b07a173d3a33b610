//go:build !linux

package dnslb

import (
	"context"
	"net"
	"net/netip"
)

// wildcardListen: elsewhere a wildcard socket would reply from the address
// the routing picks, not the one each query was sent to.
const wildcardListen = false

// udpSocket elsewhere is a net.UDPConn served one datagram at a time.
type udpSocket struct{ *net.UDPConn }

func openUDP(ap netip.AddrPort) (*udpSocket, error) {
	c, err := listenUDP(ap)
	if err != nil {
		return nil, err
	}
	return &udpSocket{c}, nil
}

func (s *udpSocket) LocalAddrPort() netip.AddrPort { return s.LocalAddr().(*net.UDPAddr).AddrPort() }

func (s *Server) serveUDP(ctx context.Context, sock *udpSocket) { s.serveUDPSimple(ctx, sock.UDPConn) }

func (s *udpSocket) release() {}
