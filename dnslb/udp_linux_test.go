package dnslb

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/dnslb/dnslb/dnslb/testutil"
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

// TestCoalesce: a worker pauses before its next read only after a read that
// says queries come faster than it answers them: more than one, and not a
// full batch (then more are queued already).
func TestCoalesce(t *testing.T) {
	const wait = 50 * time.Microsecond
	for _, tc := range []struct {
		wait time.Duration
		n    int
		want time.Duration
	}{
		{wait, 0, 0},
		{wait, 1, 0},
		{wait, coalesceMin, wait},
		{wait, udpBatch - 1, wait},
		{wait, udpBatch, 0},
		{0, coalesceMin, 0},
	} {
		if got := coalesce(tc.wait, tc.n); got != tc.want {
			t.Errorf("coalesce(%v, %d) = %v, want %v", tc.wait, tc.n, got, tc.want)
		}
	}
}

// TestCoalescedBursts: with the longest udp_coalesce, bursts of queries
// (reads of several, each followed by a pause) are all answered, each
// with its own answer, the worker does pause (counted, as
// dnslb_udp_coalesce_pauses_total shows), and the server stops promptly.
func TestCoalescedBursts(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"dnslb.toml": `[server]
listen = ["127.0.0.1:0"]
http = ""
workers = 1
udp_coalesce = "1ms"
[[zone]]
origin = "example."
records = ["@ 60 IN SOA ns1 hm 1 2 3 4 5", "@ 60 IN NS ns1", "ns1 60 IN A 192.0.2.1", "*.wild 60 IN A 192.0.2.2"]
`})
	ts := start(t, filepath.Join(dir, "dnslb.toml"), Options{})
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetReadBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ts.addr))
	const burst = 100
	buf := make([]byte, 4096)
	// A read returns several queries when they queued while the worker was
	// busy: likely in every burst; more bursts follow until one did.
	for round := 0; round < 5 || pauses(ts.Server) == 0; round++ {
		if round == 200 {
			t.Fatal("no coalescing pause after 200 bursts of 100 queries")
		}
		want := map[uint16]string{}
		for i := range burst {
			m := new(dns.Msg)
			name := fmt.Sprintf("r%dq%d.wild.example.", round, i)
			if i%2 == 1 {
				name = fmt.Sprintf("r%dq%d.example.", round, i) // NXDOMAIN
			}
			m.SetQuestion(name, dns.TypeA)
			m.Id = uint16(round*burst + i)
			b, _ := m.Pack()
			if _, err := c.WriteToUDP(b, to); err != nil {
				t.Fatal(err)
			}
			want[m.Id] = name
		}
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		for len(want) > 0 {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("round %d: %d of %d answers missing: %v", round, len(want), burst, err)
			}
			r := new(dns.Msg)
			if err := r.Unpack(buf[:n]); err != nil {
				t.Fatal(err)
			}
			name, ok := want[r.Id]
			if !ok || len(r.Question) != 1 || r.Question[0].Name != name {
				t.Fatalf("answer %d for %v: unexpected", r.Id, r.Question)
			}
			wantRcode := dns.RcodeSuccess
			if r.Id%2 == 1 {
				wantRcode = dns.RcodeNameError
			}
			if r.Rcode != wantRcode || (wantRcode == dns.RcodeSuccess && len(r.Answer) != 1) {
				t.Fatalf("%s: rcode %d, %d answers", name, r.Rcode, len(r.Answer))
			}
			delete(want, r.Id)
		}
	}
	stopped := make(chan struct{})
	go func() { ts.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not stop")
	}
}

// pauses returns how many coalescing pauses srv's UDP workers took.
func pauses(srv *Server) uint64 {
	srv.statsMu.Lock()
	defer srv.statsMu.Unlock()
	n := uint64(0)
	for _, st := range srv.allStats {
		n += st.pauses.Load()
	}
	return n
}
