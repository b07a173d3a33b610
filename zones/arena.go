package zones

import (
	"cmp"
	"encoding/binary"
	"unsafe"
)

// While a zone loads, records are appended to a chunked arena and linked
// per name, instead of each name growing a slice of its own: a million
// small allocations, and the garbage of their growth, would set the peak
// memory of a load. Build then copies every name's records, sorted, into
// one final array. Names are copied into chunks too, so that the strings
// the parser allocated for them become garbage at once.

const (
	recChunk  = 4 << 20 // bytes of records per arena chunk
	nameChunk = 1 << 20 // bytes of names per chunk
	recHeader = 8       // next record (position + 1, 0 = none), length
)

// recordArena holds records while a zone loads.
type recordArena struct {
	chunks [][]byte
	bytes  int // record bytes stored (headers aside)
	size   int // bytes per chunk; 0: recChunk
}

// add stores rec and returns its position + 1.
func (a *recordArena) add(rec []byte) uint32 {
	need := recHeader + len(rec)
	if len(a.chunks) == 0 || len(a.chunks[len(a.chunks)-1])+need > cap(a.chunks[len(a.chunks)-1]) {
		a.chunks = append(a.chunks, make([]byte, 0, max(cmp.Or(a.size, recChunk), need)))
	}
	c := &a.chunks[len(a.chunks)-1]
	pos := uint32(len(a.chunks)-1)<<22 | uint32(len(*c))
	*c = binary.LittleEndian.AppendUint32(*c, 0)
	*c = binary.LittleEndian.AppendUint32(*c, uint32(len(rec)))
	*c = append(*c, rec...)
	a.bytes += len(rec)
	return pos + 1
}

// at returns the record at position p (+ 1) and the next one's.
func (a *recordArena) at(p uint32) (rec []byte, next uint32) {
	c := a.chunks[(p-1)>>22]
	off := (p - 1) & (1<<22 - 1)
	next = binary.LittleEndian.Uint32(c[off:])
	n := binary.LittleEndian.Uint32(c[off+4:])
	return c[off+recHeader : off+recHeader+n], next
}

// link makes the record at q follow the one at p.
func (a *recordArena) link(p, q uint32) {
	c := a.chunks[(p-1)>>22]
	binary.LittleEndian.PutUint32(c[(p-1)&(1<<22-1):], q)
}

// nameArena keeps names in large chunks.
type nameArena struct {
	chunk []byte
	size  int // bytes per chunk; 0: nameChunk
}

// intern returns a copy of s that lives in the arena.
func (a *nameArena) intern(s string) string {
	if len(a.chunk)+len(s) > cap(a.chunk) {
		a.chunk = make([]byte, 0, max(cmp.Or(a.size, nameChunk), len(s)))
	}
	start := len(a.chunk)
	a.chunk = append(a.chunk, s...)
	if len(s) == 0 {
		return ""
	}
	return unsafe.String(&a.chunk[start], len(s))
}
