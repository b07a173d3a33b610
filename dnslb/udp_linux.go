package dnslb

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batch UDP I/O: one recvmmsg reads up to udpBatch queries, and one sendmmsg
// sends their responses, so that under load the per-datagram system call
// cost — most of what answering a query costs — is shared. golang.org/x/net
// offers ReadBatch/WriteBatch, but they allocate a net.Addr per datagram;
// this keeps every buffer and socket address in place for the socket's life.

const (
	udpBatch    = 64
	udpQueryMax = 4096 // larger queries are cut short by the kernel (MSG_TRUNC) and dropped
)

type batchConn struct {
	rc    syscall.RawConn
	rhdrs [udpBatch]unix.Mmsghdr
	riovs [udpBatch]unix.Iovec
	names [udpBatch]unix.RawSockaddrInet6 // large enough for IPv4 too
	bufs  [udpBatch][udpQueryMax]byte
	whdrs [udpBatch]unix.Mmsghdr
	wiovs [udpBatch]unix.Iovec
	outs  [udpBatch][]byte

	// The closures handed to RawConn are made once: a new one per call
	// would allocate.
	readFn, writeFn   func(fd uintptr) bool
	n, sent, wantSend int
	errno             syscall.Errno
}

func newBatchConn(c *net.UDPConn, maxResp int) (*batchConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &batchConn{rc: rc}
	for i := range b.rhdrs {
		b.riovs[i].Base = &b.bufs[i][0]
		b.riovs[i].SetLen(udpQueryMax)
		h := &b.rhdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.riovs[i]
		h.SetIovlen(1)
		b.outs[i] = make([]byte, 0, maxResp)
	}
	b.readFn = func(fd uintptr) bool {
		for i := range b.rhdrs {
			b.rhdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
			b.rhdrs[i].Hdr.Flags = 0
		}
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rhdrs[0])), udpBatch, unix.MSG_DONTWAIT, 0, 0)
		b.n, b.errno = int(r), e
		return e != unix.EAGAIN
	}
	b.writeFn = func(fd uintptr) bool {
		for b.sent < b.wantSend {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.whdrs[b.sent])), uintptr(b.wantSend-b.sent), unix.MSG_DONTWAIT, 0, 0)
			switch {
			case e == unix.EAGAIN:
				return false // the socket buffer is full: wait until writable
			case e != 0:
				b.sent++ // this datagram cannot go (e.g. unreachable): skip it
			default:
				b.sent += int(r)
			}
		}
		return true
	}
	return b, nil
}

// read waits for and reads a batch; it returns how many datagrams came.
func (b *batchConn) read() (int, error) {
	if err := b.rc.Read(b.readFn); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	return b.n, nil
}

// source returns the sender of datagram i.
func (b *batchConn) source(i int) netip.AddrPort {
	sa := &b.names[i]
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
}

// queue adds a response to datagram i, to go back to its sender.
func (b *batchConn) queue(k, i int, resp []byte) {
	b.outs[k] = append(b.outs[k][:0], resp...)
	b.wiovs[k].Base = &b.outs[k][0]
	b.wiovs[k].SetLen(len(resp))
	h := &b.whdrs[k].Hdr
	h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	h.Namelen = b.rhdrs[i].Hdr.Namelen
	h.Iov = &b.wiovs[k]
	h.SetIovlen(1)
}

// flush sends the k queued responses.
func (b *batchConn) flush(k int) error {
	b.sent, b.wantSend = 0, k
	return b.rc.Write(b.writeFn)
}

// serveUDP answers on one socket with batched reads and writes until ctx
// is done (Run closes the socket).
func (s *Server) serveUDP(ctx context.Context, c *net.UDPConn) {
	b, err := newBatchConn(c, max(int(s.udpSize), 512))
	if err != nil {
		s.log.Warn("batch UDP I/O unavailable; one datagram per system call", "err", err)
		s.serveUDPSimple(ctx, c)
		return
	}
	w := newWorker(s, false, s.newStats())
	for {
		n, err := b.read()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. an ICMP error surfacing on the socket
		}
		k := 0
		for i := range n {
			h := &b.rhdrs[i]
			var resp []byte
			if h.Hdr.Flags&unix.MSG_TRUNC == 0 {
				resp = w.serve(b.bufs[i][:h.Len], b.source(i))
			}
			if resp == nil {
				w.stats.dropped.Add(1)
				continue
			}
			b.queue(k, i, resp)
			k++
		}
		if k > 0 {
			if err := b.flush(k); err != nil && (ctx.Err() != nil || errors.Is(err, net.ErrClosed)) {
				return
			}
		}
	}
}
