// Package journal keeps the changes made to a zone at run time, one entry
// per accepted update, in a file of its own: each entry is written and
// fsynced before the update is acknowledged, and the entries are replayed
// over the zone file when it is loaded again. An entry is the difference
// the update made, in the shape of an IXFR difference sequence (RFC 1995
// §4): the records removed (the old SOA first) and the records added (the
// new SOA first), so that zone transfers can serve it as it is.
//
// File format: the magic "DNSLBJ1\n", then entries, each
//
//	length  uint32   bytes of payload
//	crc     uint32   CRC-32C (Castagnoli) of the payload
//	payload          from uint32, to uint32 (serials), time int64 (unix
//	                 seconds), key (uint8 length, name), then the removed
//	                 and the added records: count uint32, then each record
//	                 as length uint16 + RFC 1035 wire form, names uncompressed
//
// all integers big-endian. Appends are whole entries followed by fsync: a
// crash can leave only the last entry incomplete, and an incomplete last
// entry was never acknowledged, so reading drops it (Torn says how many
// bytes) and the next append cuts it off. Damage anywhere else is an
// error: entries after it were acknowledged and would be lost.
//
// Compaction (as Knot merges changesets when its journal fills): the
// entries are folded into one (Merge) from the zone file's serial to the
// latest, written to a temporary file, fsynced, renamed over the journal
// and the folder fsynced (Compact). A crash at any point leaves the old
// journal or the new one, and both replay to the same zone.
package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/miekg/dns"
)

// Magic starts every journal file.
const Magic = "DNSLBJ1\n"

const (
	frameLen = 8       // length + crc
	maxEntry = 1 << 26 // 64 MiB: far beyond any update; a larger length is damage
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Entry is one accepted update: the zone went from serial From to To by
// removing Del and adding Add (each with the SOA first, as IXFR has it).
type Entry struct {
	From, To uint32
	Time     time.Time // when it was accepted (second precision)
	Key      string    // the TSIG key that signed it
	Del, Add []dns.RR
}

// Marshal returns e framed as it is stored.
func (e *Entry) Marshal() ([]byte, error) {
	p := make([]byte, frameLen, 256)
	p = binary.BigEndian.AppendUint32(p, e.From)
	p = binary.BigEndian.AppendUint32(p, e.To)
	p = binary.BigEndian.AppendUint64(p, uint64(e.Time.Unix()))
	if len(e.Key) > 255 {
		return nil, fmt.Errorf("journal: key name %q is too long", e.Key)
	}
	p = append(p, byte(len(e.Key)))
	p = append(p, e.Key...)
	buf := make([]byte, 65535)
	for _, rrs := range [2][]dns.RR{e.Del, e.Add} {
		p = binary.BigEndian.AppendUint32(p, uint32(len(rrs)))
		for _, rr := range rrs {
			n, err := dns.PackRR(rr, buf, 0, nil, false)
			if err != nil {
				return nil, fmt.Errorf("journal: record %q: %w", rr.String(), err)
			}
			p = binary.BigEndian.AppendUint16(p, uint16(n))
			p = append(p, buf[:n]...)
		}
	}
	if len(p)-frameLen > maxEntry {
		return nil, fmt.Errorf("journal: entry of %d bytes is too large", len(p)-frameLen)
	}
	binary.BigEndian.PutUint32(p, uint32(len(p)-frameLen))
	binary.BigEndian.PutUint32(p[4:], crc32.Checksum(p[frameLen:], castagnoli))
	return p, nil
}

// unmarshal reads a payload whose checksum was verified.
func unmarshal(p []byte) (*Entry, error) {
	e := &Entry{}
	if len(p) < 17 {
		return nil, errors.New("entry too short")
	}
	e.From = binary.BigEndian.Uint32(p)
	e.To = binary.BigEndian.Uint32(p[4:])
	e.Time = time.Unix(int64(binary.BigEndian.Uint64(p[8:])), 0).UTC()
	kl := int(p[16])
	off := 17
	if len(p) < off+kl {
		return nil, errors.New("key name runs past the entry")
	}
	e.Key = string(p[off : off+kl])
	off += kl
	for i := range 2 {
		if len(p) < off+4 {
			return nil, errors.New("record count runs past the entry")
		}
		n := int(binary.BigEndian.Uint32(p[off:]))
		off += 4
		if n > len(p)-off { // each record takes at least one byte
			return nil, fmt.Errorf("%d records cannot fit in the entry", n)
		}
		rrs := make([]dns.RR, 0, n)
		for range n {
			if len(p) < off+2 {
				return nil, errors.New("record length runs past the entry")
			}
			l := int(binary.BigEndian.Uint16(p[off:]))
			off += 2
			if len(p) < off+l {
				return nil, errors.New("record runs past the entry")
			}
			rr, end, err := dns.UnpackRR(p[off:off+l], 0)
			if err != nil {
				return nil, fmt.Errorf("record: %v", err)
			}
			if end != l || rr == nil {
				return nil, errors.New("record has trailing bytes")
			}
			rrs = append(rrs, rr)
			off += l
		}
		if i == 0 {
			e.Del = rrs
		} else {
			e.Add = rrs
		}
	}
	if off != len(p) {
		return nil, errors.New("trailing bytes after the records")
	}
	return e, nil
}

// Contents is what a journal file holds.
type Contents struct {
	Entries []*Entry
	Size    int64 // bytes up to the end of the last whole entry (0: no file)
	Torn    int64 // bytes after it: an incomplete last entry, never acknowledged
}

// DamageError is damage before the last entry: acknowledged entries
// would be lost by reading on.
type DamageError struct {
	Offset int64
	Entry  int // its number, from 1
	Err    error
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("entry %d at byte %d is damaged (%v) and entries after it would be lost", e.Entry, e.Offset, e.Err)
}

func (e *DamageError) Unwrap() error { return e.Err }

// Decode reads a journal file's bytes.
func Decode(b []byte) (*Contents, error) {
	c := &Contents{}
	if len(b) == 0 {
		return c, nil
	}
	if len(b) < len(Magic) {
		if Magic[:len(b)] == string(b) { // torn while the file was made
			c.Torn = int64(len(b))
			return c, nil
		}
		return nil, errors.New("not a dnslb journal (bad magic)")
	}
	if string(b[:len(Magic)]) != Magic {
		return nil, errors.New("not a dnslb journal (bad magic)")
	}
	off := len(Magic)
	c.Size = int64(off)
	for off < len(b) {
		rest := b[off:]
		torn := func(why error) (*Contents, error) {
			// When nothing whole follows, this is the last entry, cut short.
			if hasWholeEntryAfter(b, off+1) {
				return nil, &DamageError{Offset: int64(off), Entry: len(c.Entries) + 1, Err: why}
			}
			c.Torn = int64(len(rest))
			return c, nil
		}
		if len(rest) < frameLen {
			return torn(errors.New("incomplete header"))
		}
		n := int(binary.BigEndian.Uint32(rest))
		sum := binary.BigEndian.Uint32(rest[4:])
		if n > maxEntry || len(rest) < frameLen+n {
			return torn(fmt.Errorf("length %d runs past the end", n))
		}
		p := rest[frameLen : frameLen+n]
		if crc32.Checksum(p, castagnoli) != sum {
			if len(rest) > frameLen+n {
				return nil, &DamageError{Offset: int64(off), Entry: len(c.Entries) + 1, Err: errors.New("checksum mismatch")}
			}
			return torn(errors.New("checksum mismatch"))
		}
		e, err := unmarshal(p)
		if err != nil {
			// The checksum held: written so, not torn.
			return nil, &DamageError{Offset: int64(off), Entry: len(c.Entries) + 1, Err: err}
		}
		if k := len(c.Entries); k > 0 && c.Entries[k-1].To != e.From {
			return nil, &DamageError{Offset: int64(off), Entry: k + 1, Err: fmt.Errorf("it starts at serial %d but the entry before it ended at %d", e.From, c.Entries[k-1].To)}
		}
		c.Entries = append(c.Entries, e)
		off += frameLen + n
		c.Size = int64(off)
	}
	return c, nil
}

// hasWholeEntryAfter reports whether a checksummed entry starts anywhere
// at or after from: a damaged length is torn only when nothing valid follows.
func hasWholeEntryAfter(b []byte, from int) bool {
	for i := from; i+frameLen <= len(b); i++ {
		n := int(binary.BigEndian.Uint32(b[i:]))
		if n > 0 && n <= maxEntry && i+frameLen+n <= len(b) && crc32.Checksum(b[i+frameLen:i+frameLen+n], castagnoli) == binary.BigEndian.Uint32(b[i+4:]) {
			return true
		}
	}
	return false
}

// errForeign: the file holds entries this Journal did not write.
var errForeign = errors.New("written by another process since it was read (two dnslb on one journal?); reload to take its updates in")

// Journal is one zone's journal file. It is not safe for concurrent use:
// a zone's updates are applied one at a time.
type Journal struct {
	path string
	size int64 // bytes known good: appends start here
	// compacted is the size the last compaction left (0: none since
	// Open): the next one waits until the journal has doubled, so that a
	// large merged entry is not rewritten at every update.
	compacted int64
	// dirDirty: a rename into the folder may not be durable yet; the next
	// append fsyncs the folder before it acknowledges anything.
	dirDirty bool
	// crash, set by tests, stops Compact after a step as a crash would:
	// nothing cleaned up.
	crash func(step string) bool
}

// Open reads the journal at path (a missing file is an empty journal).
func Open(path string) (*Journal, *Contents, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("journal: %s is not a regular file", path)
	}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	c, err := Decode(b)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %s: %w; move the file aside (or run dnslb -clear-journal) to serve the zone file alone", path, err)
	}
	return &Journal{path: path, size: c.Size}, c, nil
}

// Path returns the file's path.
func (j *Journal) Path() string { return j.path }

// Append writes e and fsyncs it (and the folder, when the file is new).
// On error nothing is kept: the file is cut back to where it was, and if
// even that fails the next read finds an incomplete last entry, which it
// drops.
func (j *Journal) Append(e *Entry) (err error) {
	rec, err := e.Marshal()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer func() {
		if err != nil {
			if !errors.Is(err, errForeign) {
				_ = f.Truncate(j.size)
			}
			err = fmt.Errorf("journal: %s: %w", j.path, err)
		}
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("journal: %s: %w", j.path, cerr)
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	fresh := j.size == 0
	if fresh {
		rec = append([]byte(Magic), rec...)
	}
	if st.Size() != j.size {
		// Bytes past what we read are a torn entry or a failed append of
		// ours, to be cut off. Whole entries there were written by another
		// process (an old one still finishing a binary upgrade, or two
		// servers given one journal): cutting them would lose updates that
		// were acknowledged.
		if st.Size() > j.size {
			tail := make([]byte, st.Size()-j.size)
			if _, err := f.ReadAt(tail, j.size); err != nil {
				return err
			}
			if hasWholeEntryAfter(tail, 0) {
				return errForeign
			}
		}
		if err := f.Truncate(j.size); err != nil {
			return err
		}
	}
	if _, err := f.WriteAt(rec, j.size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if fresh || j.dirDirty {
		if err := syncDir(filepath.Dir(j.path)); err != nil {
			return err
		}
		j.dirDirty = false
	}
	j.size += int64(len(rec))
	return nil
}

// Size returns the journal's size in bytes as this Journal wrote it.
func (j *Journal) Size() int64 { return j.size }

// DefaultCompactSize is the size above which a journal is compacted
// (Knot's journal-max-usage and BIND's max-journal-size play this part).
const DefaultCompactSize = 1 << 20

// Grown reports whether the journal is due for compaction: above limit
// bytes and at least twice what the last compaction left.
func (j *Journal) Grown(limit int64) bool {
	return j.size > limit && j.size > 2*j.compacted
}

// errCrash is returned by Compact when a test stopped it.
var errCrash = errors.New("stopped by test (simulated crash)")

// Compact replaces the journal's entries with e, normally Merge of them,
// atomically: e is written to PATH.compact, fsynced, renamed over the
// journal, and the folder fsynced. Until the rename the old journal is
// whole; after it the new one is, and both replay to the same zone. On
// error the journal is still usable: appends go to whichever file the
// path names.
func (j *Journal) Compact(e *Entry) (err error) {
	defer func() {
		if err != nil && !errors.Is(err, errCrash) {
			err = fmt.Errorf("journal: compacting %s: %w", j.path, err)
		}
	}()
	rec, err := e.Marshal()
	if err != nil {
		return err
	}
	data := append([]byte(Magic), rec...)
	st, err := os.Stat(j.path)
	if err != nil {
		return err
	}
	if st.Size() > j.size {
		tail := make([]byte, st.Size()-j.size)
		f, err := os.Open(j.path)
		if err != nil {
			return err
		}
		_, err = f.ReadAt(tail, j.size)
		f.Close()
		if err != nil {
			return err
		}
		if hasWholeEntryAfter(tail, 0) {
			return errForeign // entries e does not hold would be dropped
		}
	}
	tmp := j.path + ".compact"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if j.crash != nil && j.crash("partial") {
		_, _ = f.Write(data[:len(data)/2])
		f.Close()
		return errCrash
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if j.crash != nil && j.crash("written") {
		f.Close()
		return errCrash
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if j.crash != nil && j.crash("synced") {
		return errCrash
	}
	if err := os.Rename(tmp, j.path); err != nil {
		os.Remove(tmp)
		return err
	}
	// From here the path names the new file: appends go there.
	j.size, j.compacted, j.dirDirty = int64(len(data)), int64(len(data)), true
	if j.crash != nil && j.crash("renamed") {
		return errCrash
	}
	if err := syncDir(filepath.Dir(j.path)); err != nil {
		return err // the next append fsyncs the folder first
	}
	j.dirDirty = false
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Clear removes the journal at path; a missing one is not an error.
func Clear(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return syncDir(filepath.Dir(path))
}
