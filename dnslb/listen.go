package dnslb

import (
	"context"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort lets several sockets bind one address; the kernel spreads
// incoming flows over them, one reader per core.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// udpReadBuffer absorbs bursts while a worker is busy.
const udpReadBuffer = 4 << 20

// netFamily is the network of ap's family: Go would otherwise make a wildcard
// IPv4 socket a dual-stack IPv6 one, and 0.0.0.0 and [::] on one port clash.
func netFamily(netw string, ap netip.AddrPort) string {
	if ap.Addr().Is4() {
		return netw + "4"
	}
	return netw + "6"
}

func listenUDP(ap netip.AddrPort) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: reusePort}
	pc, err := lc.ListenPacket(context.Background(), netFamily("udp", ap), ap.String())
	if err != nil {
		return nil, err
	}
	c := pc.(*net.UDPConn)
	_ = c.SetReadBuffer(udpReadBuffer) // best effort: capped by net.core.rmem_max
	return c, nil
}

func listenTCP(ap netip.AddrPort) (*net.TCPListener, error) {
	lc := net.ListenConfig{Control: reusePort}
	l, err := lc.Listen(context.Background(), netFamily("tcp", ap), ap.String())
	if err != nil {
		return nil, err
	}
	return l.(*net.TCPListener), nil
}
