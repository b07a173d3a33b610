package dnslb

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPortZeroJoinsNoOtherGroup: a UDP socket opened on port 0 never gets
// a port that other SO_REUSEPORT sockets of this user hold (as the
// servers of other tests, in other processes, do): it would share their
// queries. Setting SO_REUSEPORT before the bind let the kernel pick such a
// port for about one socket in 30 with the 1000 held here.
func TestPortZeroJoinsNoOtherGroup(t *testing.T) {
	held := map[uint16]bool{}
	for range 1000 {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			t.Fatal(err)
		}
		held[uint16(sa.(*unix.SockaddrInet4).Port)] = true
	}
	for range 300 {
		first, err := openUDP(netip.MustParseAddrPort("127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		p := first.LocalAddrPort()
		// The workers' sockets still join the port.
		second, err := openUDP(p)
		first.release()
		if err != nil {
			t.Fatalf("a second socket on %v: %v", p, err)
		}
		second.release()
		if held[p.Port()] {
			t.Fatalf("port 0 gave %v, a port other SO_REUSEPORT sockets hold", p)
		}
	}
}
