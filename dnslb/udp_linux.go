package dnslb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batch UDP I/O on Linux. One recvmmsg(MSG_WAITFORONE) blocks until a query
// comes and returns every query already queued (up to udpBatch); one
// sendmmsg sends their responses. Under load the per-datagram system call
// cost — most of what answering a query costs — is shared, and at low load
// a query costs one blocking read and one write, as in NSD or Knot: the
// goroutine blocks in the kernel rather than parking in Go's netpoller,
// whose wake-ups cost more than the answer. golang.org/x/net's
// ReadBatch/WriteBatch would do the batching but allocate a net.Addr per
// datagram and go through the netpoller; this keeps every buffer and socket
// address in place for the socket's life.

const (
	udpBatch    = 64
	udpQueryMax = 4096 // larger queries are cut short by the kernel (MSG_TRUNC) and dropped
	// udpWake bounds how long a blocked read waits before looking at its
	// context; shutdown(2) normally wakes it at once.
	udpWake = 250 * time.Millisecond
	// coalesceMin queries returned by one read say that queries come
	// faster than they are answered: only then does the worker let the
	// next ones gather ([server] udp_coalesce).
	coalesceMin = 2
	// yieldEvery is how often a busy worker passes through the scheduler:
	// often enough that the runtime never sees it run 10 ms
	// (forcePreemptNS) without doing so, rarely because each pass wakes a
	// spare thread to look for work (about 40 µs of CPU on a VM).
	yieldEvery = 5 * time.Millisecond
)

// udpSocket is a blocking UDP socket owned by one worker.
type udpSocket struct {
	fd       int
	local    netip.AddrPort
	wildcard bool // bound to 0.0.0.0 or [::]: replies leave from each query's destination
	closed   sync.Once
}

// wildcardListen: this platform can serve a wildcard address correctly.
const wildcardListen = true

// openUDP binds a blocking UDP socket with SO_REUSEPORT, so that one socket
// per core can share the address.
func openUDP(ap netip.AddrPort) (*udpSocket, error) {
	family := unix.AF_INET6
	if ap.Addr().Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*udpSocket, error) {
		unix.Close(fd)
		return nil, err
	}
	// Port 0: SO_REUSEPORT only once bound. The kernel's choice of a port
	// for a socket that has it set counts ports held by other SO_REUSEPORT
	// sockets of the same user as free, so a server on port 0 could land in
	// another's group (another test's, in another process) and get half of
	// its queries. Without it, the port is one nobody holds; set afterwards,
	// the workers' sockets still join it.
	autoPort := ap.Port() == 0
	if !autoPort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail(err)
		}
	}
	// Room for bursts: SO_RCVBUFFORCE passes net.core.rmem_max when we may.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, udpReadBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, udpReadBuffer)
	}
	tv := unix.NsecToTimeval(int64(udpWake))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail(err)
	}
	// On a wildcard address the kernel tells each query's destination
	// (IP_PKTINFO, IPV6_RECVPKTINFO) and the reply names it as its source,
	// as NSD and Knot do: otherwise the kernel would pick the source by
	// route, and a resolver drops a reply from an address it did not ask
	// (hosts with several addresses, or behind a cloud's NAT).
	wildcard := ap.Addr().IsUnspecified()
	if wildcard {
		var err error
		if family == unix.AF_INET {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		} else {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		}
		if err != nil {
			return fail(fmt.Errorf("packet info on %s: %w", ap, err))
		}
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail(err)
		}
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail(fmt.Errorf("bind %s: %w", ap, err))
	}
	if autoPort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail(err)
		}
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return fail(err)
	}
	return adoptUDP(fd, ap, got), nil
}

// adoptUDP wraps a bound socket; got is its getsockname(2). A wildcard
// socket was set up for packet info where it was opened (here, or in the
// process that handed it over).
func adoptUDP(fd int, ap netip.AddrPort, got unix.Sockaddr) *udpSocket {
	s := &udpSocket{fd: fd, local: ap, wildcard: ap.Addr().IsUnspecified()}
	switch g := got.(type) {
	case *unix.SockaddrInet4:
		s.local = netip.AddrPortFrom(ap.Addr(), uint16(g.Port))
	case *unix.SockaddrInet6:
		s.local = netip.AddrPortFrom(ap.Addr(), uint16(g.Port))
	}
	return s
}

func (s *udpSocket) LocalAddrPort() netip.AddrPort { return s.local }

// Close wakes a reader blocked on the socket and releases it.
func (s *udpSocket) Close() error {
	s.closed.Do(func() {
		_ = unix.Shutdown(s.fd, unix.SHUT_RDWR)
		// The worker closes the descriptor when it sees the shutdown, so
		// that it is never reused under a blocked read.
	})
	return nil
}

// release closes the descriptor of a socket no worker serves.
func (s *udpSocket) release() { unix.Close(s.fd) }

type batch struct {
	rhdrs [udpBatch]unix.Mmsghdr
	riovs [udpBatch]unix.Iovec
	names [udpBatch]unix.RawSockaddrInet6 // large enough for IPv4 too
	bufs  [udpBatch][udpQueryMax]byte
	whdrs [udpBatch]unix.Mmsghdr
	wiovs [udpBatch]unix.Iovec
	outs  [udpBatch][]byte
	// Wildcard sockets only: each query's packet info, received and then
	// sent back with its reply.
	wildcard bool
	ctrl     [udpBatch][pktinfoSpace]byte
	filled   int // headers the last read filled in
}

// pktinfoSpace holds one IP_PKTINFO or IPV6_PKTINFO control message.
const pktinfoSpace = unix.SizeofCmsghdr + 32

func newBatch(maxResp int, wildcard bool) *batch {
	b := new(batch)
	b.wildcard = wildcard
	for i := range b.rhdrs {
		b.riovs[i].Base = &b.bufs[i][0]
		b.riovs[i].SetLen(udpQueryMax)
		h := &b.rhdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.riovs[i]
		h.SetIovlen(1)
		b.outs[i] = make([]byte, 0, maxResp)
		b.resetRead(i)
	}
	return b
}

// read blocks until at least one datagram is queued and returns how many
// it read.
func (b *batch) read(fd int) (int, error) {
	// The kernel wrote back only the headers of the datagrams it returned
	// last time; the others still hold what newBatch or this set.
	for i := range b.filled {
		b.resetRead(i)
	}
	b.filled = 0
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.rhdrs[0])), udpBatch, unix.MSG_WAITFORONE, 0, 0)
	if e != 0 {
		return 0, e
	}
	b.filled = int(r)
	return int(r), nil
}

// resetRead readies header i to receive a datagram.
func (b *batch) resetRead(i int) {
	h := &b.rhdrs[i].Hdr
	h.Namelen = unix.SizeofSockaddrInet6
	h.Flags = 0
	if b.wildcard {
		h.Control = &b.ctrl[i][0]
		h.SetControllen(pktinfoSpace)
	}
}

// source returns the sender of datagram i.
func (b *batch) source(i int) netip.AddrPort {
	sa := &b.names[i]
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
}

// queue sets response k to go back to the sender of datagram i.
func (b *batch) queue(k, i int, resp []byte) {
	b.outs[k] = append(b.outs[k][:0], resp...)
	b.wiovs[k].Base = &b.outs[k][0]
	b.wiovs[k].SetLen(len(resp))
	h := &b.whdrs[k].Hdr
	h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	h.Namelen = b.rhdrs[i].Hdr.Namelen
	h.Iov = &b.wiovs[k]
	h.SetIovlen(1)
	h.Control, h.Controllen = nil, 0
	if b.wildcard {
		b.replyFrom(h, i)
	}
}

// replyFrom makes the reply in h leave from the address datagram i was
// sent to: its packet info goes back with the reply. IPv4's names the
// source in ipi_spec_dst, and its interface is left to the routing (as
// Unbound does); IPv6's names address and interface as received.
func (b *batch) replyFrom(h *unix.Msghdr, i int) {
	rh := &b.rhdrs[i].Hdr
	c := &b.ctrl[i]
	if rh.Controllen < unix.SizeofCmsghdr || rh.Flags&unix.MSG_CTRUNC != 0 {
		return // no packet info: the kernel picks the source
	}
	cm := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
	data := unsafe.Pointer(&c[unix.SizeofCmsghdr])
	switch {
	case cm.Level == unix.IPPROTO_IP && cm.Type == unix.IP_PKTINFO && cm.Len >= unix.SizeofCmsghdr+unix.SizeofInet4Pktinfo:
		pi := (*unix.Inet4Pktinfo)(data)
		pi.Spec_dst = pi.Addr
		pi.Ifindex = 0
	case cm.Level == unix.IPPROTO_IPV6 && cm.Type == unix.IPV6_PKTINFO && cm.Len >= unix.SizeofCmsghdr+unix.SizeofInet6Pktinfo:
	default:
		return
	}
	h.Control = &c[0]
	h.SetControllen(int(cm.Len))
}

// flush sends the k queued responses; a datagram that cannot be sent (its
// sender unreachable, say) is skipped: resolvers retry.
//
// A UDP send waits for nothing but room in the socket's send buffer, so it
// is first tried with MSG_DONTWAIT as a raw system call, without the
// runtime's bookkeeping for a call that may block (entersyscall and
// exitsyscall: about 4% of the user-space time of a query). Only when the
// buffer is full does the rest go out through a blocking send.
func (b *batch) flush(fd, k int) {
	if sent, full := b.send(fd, 0, k, false); full {
		b.send(fd, sent, k, true)
	}
}

// send sends responses from to k. Without wait it stops at a full send
// buffer and says so.
func (b *batch) send(fd, from, k int, wait bool) (sent int, full bool) {
	for sent = from; sent < k; {
		p := uintptr(unsafe.Pointer(&b.whdrs[sent]))
		var r uintptr
		var e unix.Errno
		if wait {
			r, _, e = unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), p, uintptr(k-sent), 0, 0, 0)
		} else {
			r, _, e = unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), p, uintptr(k-sent), unix.MSG_DONTWAIT, 0, 0)
		}
		switch {
		case e == unix.EAGAIN && !wait:
			return sent, true
		case e == unix.EINTR:
		case e != 0:
			sent++
		default:
			sent += int(r)
		}
	}
	return sent, false
}

// serveUDP answers on one socket until ctx is done or the socket is shut
// down, then closes it.
func (s *Server) serveUDP(ctx context.Context, sock *udpSocket) {
	defer unix.Close(sock.fd)
	b := newBatch(max(int(s.snap.Load().udpSize), 512), sock.wildcard) // grows if udp_size is raised by a reload
	w := newWorker(s, false, s.newStats())
	rerr := newReadErrors(s.log, &w.stats.readErrors)
	lastYield := nanotime()
	for {
		// A goroutine that never passes through the scheduler looks stuck
		// to the runtime, which then signals it and takes its P away while
		// it is in a system call (every 10 ms) and polls it every 20 µs:
		// under load that cost a quarter of the CPU per query. Yielding
		// now and then says it is alive; with nothing else to run it
		// resumes at once.
		if now := nanotime(); now-lastYield > int64(yieldEvery) {
			runtime.Gosched()
			lastYield = now
		}
		n, err := b.read(sock.fd)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue // the wake-up timeout: look at ctx again
			}
			rerr.failed(ctx, sock.local.String(), err) // e.g. an ICMP error surfacing on the socket
			continue
		}
		if n == 0 {
			return // shut down
		}
		rerr.ok()
		k := 0
		for i := range n {
			h := &b.rhdrs[i]
			if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
				w.stats.dropped.Add(1) // too large to be a query we read whole
				continue
			}
			resp := w.serve(b.bufs[i][:h.Len], b.source(i))
			if resp == nil {
				continue // counted by serve: unreadable, a response, or rate limited
			}
			b.queue(k, i, resp)
			k++
		}
		if k > 0 {
			b.flush(sock.fd, k)
		}
		// Checked after answering what was read: at an upgrade the socket
		// stays open for the new process and every datagram taken off it
		// here must be answered here.
		if ctx.Err() != nil {
			return
		}
		if d := coalesce(s.snap.Load().udpCoalesce, n); d > 0 {
			w.stats.pauses.Add(1)
			ts := unix.NsecToTimespec(int64(d))
			_ = unix.Nanosleep(&ts, nil) // interrupted: read sooner
		}
	}
}

// coalesce says how long to let queries gather before the next read, after
// one that returned n of them, as a network card holds its interrupt
// (interrupt coalescing). Each time the worker blocks it sleeps and is
// woken again, and on a VM that costs as much as answering two queries;
// under load, a pause of wait lets one read take many. A read that
// returned one query (light load) or a full batch (more are queued) reads
// again at once. A query waits at most wait, plus the kernel's timer slack
// (50 µs unless set otherwise).
func coalesce(wait time.Duration, n int) time.Duration {
	if n < coalesceMin || n >= udpBatch {
		return 0
	}
	return wait
}
