package dnslb

import (
	"errors"
	"net/netip"
	"testing"
	"time"

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

// TestFlushWaitsForRoom: responses that meet a full send buffer wait for
// room instead of being dropped. The first attempt does not wait (it is a
// raw system call, which must not block) and says the buffer is full.
func TestFlushWaitsForRoom(t *testing.T) {
	// A datagram socket pair: a sender's buffer stays charged until the
	// peer reads, so it fills up (a UDP socket on loopback never does).
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(10 * time.Second))
	if err := unix.SetsockoptTimeval(fds[1], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	fillers := 0
	for ; ; fillers++ {
		err := unix.Sendto(fds[0], []byte("filler"), unix.MSG_DONTWAIT, nil)
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	const k = 8
	b := newBatch(512, false)
	for i := range k {
		b.rhdrs[i].Hdr.Namelen = 0 // the pair is connected: no address
		b.queue(i, i, []byte{'r', byte(i)})
	}
	if sent, full := b.send(fds[0], 0, k, false); sent != 0 || !full {
		t.Fatalf("send without waiting on a full buffer: sent %d, full %v; want 0, true", sent, full)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.flush(fds[0], k)
	}()
	// Nothing reads yet: the flush must wait, not drop what did not fit.
	select {
	case <-done:
		t.Fatal("flush returned while the send buffer was full: responses dropped")
	case <-time.After(200 * time.Millisecond):
	}
	var got []byte
	buf := make([]byte, 64)
	for len(got) < k {
		n, err := unix.Read(fds[1], buf)
		if err != nil {
			t.Fatalf("after %d of %d responses: %v", len(got), k, err)
		}
		if n == 2 && buf[0] == 'r' {
			got = append(got, buf[1])
		}
	}
	<-done
	for i, g := range got {
		if int(g) != i {
			t.Fatalf("responses arrived as %v, want 0..%d in order", got, k-1)
		}
	}
}
