//go:build !linux

package dnslb

import (
	"net"
	"net/netip"
)

// openAddr opens new sockets: sockets are handed over at upgrades on Linux
// only.
func (s *Server) openAddr(_ string, ap netip.AddrPort, workers int) ([]*udpSocket, *net.TCPListener, error) {
	return listenAddr(ap, workers)
}
