package zones

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"

	"github.com/miekg/dns"
)

// DefaultTTL is the TTL of records that give none when no $TTL precedes them
// (the SOA MINIMUM would be RFC 1035's choice, but it is not known before
// the SOA is read; BIND and NSD warn and use their default likewise).
const DefaultTTL = 3600

// LoadFile reads an RFC 1035 master file into b. Relative names are relative
// to the zone's origin; $INCLUDE paths are relative to the including file.
// A syntax error stops reading that file; records outside the zone are
// reported and skipped.
func (b *Builder) LoadFile(path string) {
	abs, err := filepath.Abs(path)
	var data []byte
	if err == nil {
		data, err = b.guard.read(abs)
	}
	if err != nil {
		b.broken = true
		b.errs = append(b.errs, &Error{File: b.at.File, Line: b.at.Line, Err: fmt.Errorf("zone %s: cannot read its file: %w", b.origin, readError(err))})
		return
	}
	// The parsers see the absolute name so that $INCLUDE resolves against
	// this file's folder; messages show the name as given.
	if len(b.nodes) == 0 {
		// A name takes about 40 bytes of a typical file: sizing the map
		// once spares growing it a dozen times.
		b.nodes = make(map[string]*Node, len(data)/40)
	}
	chunks := splitZone(data, b.origin, runtime.GOMAXPROCS(0))
	if chunks == nil {
		lines := &lineFS{guard: b.guard}
		b.parse(lines.read(path, data), abs, lines, true, 0)
		return
	}
	// Each chunk is parsed (and its records packed) by its own goroutine;
	// this one files the records in file order: the first chunk's as they
	// come, each later one's once the one before is done.
	outs := make([]*batchQueue, len(chunks))
	for i, c := range chunks {
		outs[i] = newBatchQueue()
		lines := &lineFS{guard: b.guard}
		r := lines.read(path, data[c.start:c.end])
		offset := 0
		if i > 0 {
			r = lines.read(path, []byte(c.prefix()), data[c.start:c.end])
			r.line = c.line - 2 // the prefix's two lines come first
			offset = c.line - 3
		}
		go b.parseInto(outs[i], r, abs, lines, true, offset)
	}
	for _, q := range outs {
		b.fileAll(q)
	}
}

// readError says what is wrong with a file in an operator's words.
func readError(err error) error {
	switch {
	case errors.Is(err, ErrNotRegular):
		return fmt.Errorf("%w: zone files and $INCLUDEs must be plain files", err)
	case errors.Is(err, ErrTooLarge):
		return fmt.Errorf("%w (zone_max_bytes)", err)
	}
	return err
}

// AddText adds records written in master-file syntax (relative names are
// relative to the origin), e.g. "www 60 IN A 192.0.2.1". Each error is
// placed at pos.
func (b *Builder) AddText(text string, pos Pos) {
	lines := &lineFS{guard: b.guard}
	r := lines.read(pos.File, []byte(text+"\n"))
	r.line = pos.Line
	b.parse(r, pos.File, lines, false, max(pos.Line-1, 0)) // $INCLUDE belongs in zone files, not in a config
}

// packedBatch is records packed by a parsing goroutine for the builder,
// all from one file (a later chunk's wait here, so they are kept small).
type packedBatch struct {
	file   string
	owners []string
	ends   []int32 // record i is buf[ends[i-1]:ends[i]]
	lines  []int32
	buf    []byte
	errs   []error // records refused, and the parser's error last
}

// batchQueue hands batches from a parser to the builder. It never blocks
// the parser: a later chunk's records wait here, packed, until the builder
// is done with the chunks before.
type batchQueue struct {
	mu      sync.Mutex
	ready   *sync.Cond
	batches []packedBatch
	done    bool
}

func newBatchQueue() *batchQueue {
	q := &batchQueue{}
	q.ready = sync.NewCond(&q.mu)
	return q
}

func (q *batchQueue) put(b packedBatch, last bool) {
	q.mu.Lock()
	q.batches = append(q.batches, b)
	q.done = last
	q.mu.Unlock()
	q.ready.Signal()
}

// take returns the batches queued so far, waiting for some; ok is false
// once the parser is done and everything was taken.
func (q *batchQueue) take() (bs []packedBatch, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.batches) == 0 && !q.done {
		q.ready.Wait()
	}
	bs, q.batches = q.batches, nil
	return bs, len(bs) > 0 || !q.done
}

// parseBatch is the records packed between two hand-overs.
const parseBatch = 1024

// parse reads master-file text into b: lexing, parsing (miekg/dns) and
// packing run in their own goroutine while this one files the records into
// the tree.
func (b *Builder) parse(r *lineReader, file string, lines *lineFS, includes bool, lineOffset int) {
	q := newBatchQueue()
	go b.parseInto(q, r, file, lines, includes, lineOffset)
	b.fileAll(q)
}

// fileAll files every record a parser queued, in order.
func (b *Builder) fileAll(q *batchQueue) {
	for {
		bs, ok := q.take()
		if !ok {
			return
		}
		for _, batch := range bs {
			start := int32(0)
			for i, owner := range batch.owners {
				b.file(owner, batch.buf[start:batch.ends[i]], Pos{File: batch.file, Line: int(batch.lines[i])})
				start = batch.ends[i]
			}
			b.errs = append(b.errs, batch.errs...)
		}
	}
}

// parseInto parses r and queues its records, packed, into q.
//
// file is the name the parser knows the text by (an absolute path, so that
// $INCLUDE works); errors in it are reported under r's name with lineOffset
// added to the parser's line numbers (the text may start inside a file).
func (b *Builder) parseInto(q *batchQueue, r *lineReader, file string, lines *lineFS, includes bool, lineOffset int) {
	zp := dns.NewZoneParser(r, b.origin, file)
	zp.SetDefaultTTL(DefaultTTL)
	zp.SetIncludeAllowed(includes)
	zp.SetIncludeFS(lines)
	scratch := make([]byte, 65535+512)
	var batch packedBatch
	// Records read from each file: an error in a file that gave none may
	// be in a file that is no zone file at all (a token, /etc/shadow), and
	// its text is then not repeated.
	seen := map[string]int{}
	n := 0
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if n++; n%256 == 0 && b.guard.stopped() {
			break // a limit was passed or the load was cancelled: the builder says which
		}
		pos := lines.pos()
		seen[pos.File]++
		owner, rec, err := pack(rr, b.origin, scratch)
		if err != nil {
			batch.errs = append(batch.errs, &Error{File: pos.File, Line: pos.Line, Err: err})
			continue
		}
		if pos.File != batch.file && len(batch.owners) > 0 { // in or out of an $INCLUDE
			q.put(batch, false)
			batch = packedBatch{}
		}
		batch.file = pos.File
		batch.owners = append(batch.owners, owner)
		batch.buf = append(batch.buf, rec...)
		batch.ends = append(batch.ends, int32(len(batch.buf)))
		batch.lines = append(batch.lines, int32(pos.Line))
		if len(batch.owners) == parseBatch {
			q.put(batch, false)
			batch = packedBatch{}
		}
	}
	if err := zp.Err(); err != nil {
		// An $INCLUDE that cannot be opened (wrapped) quotes the path
		// the zone file gives, not the text of a file.
		at := lines.pos()
		hide := seen[at.File] == 0 && errors.Unwrap(err) == nil
		batch.errs = append(batch.errs, parseError(err, at, b.origin, file, r.name, lineOffset, hide))
	}
	q.put(batch, true)
}

var parseErrorAt = regexp.MustCompile(`^(.*?): dns: (.*): ("(?:[^"\\]|\\.)*") at line: (\d+):(\d+)$`)

// parseError turns miekg/dns's "FILE: dns: MSG: "TOKEN" at line: L:C" into
// our FILE:LINE: form.
// An error in the parser's own text (file) is placed under display, its
// line moved by lineOffset; one in an $INCLUDEd file stays as it is.
// hide says the file gave no record before the error: it may be no zone
// file at all (an $INCLUDE of a token or of /etc/shadow), so neither the
// offending text nor anything the parser read is repeated, in -check
// output, logs or the API: the file, line and column say where to look.
func parseError(err error, at Pos, origin, file, display string, lineOffset int, hide bool) error {
	var pe *dns.ParseError
	if errors.As(err, &pe) {
		if m := parseErrorAt.FindStringSubmatch(pe.Error()); m != nil {
			name, msg, token := m[1], m[2], m[3]
			line, _ := strconv.Atoi(m[4])
			switch {
			case name == file:
				name, line = display, line+lineOffset
			case name != at.File:
				name = at.File // miekg/dns names some errors after a token, not a file
			}
			if hide {
				return &Error{File: name, Line: line, Err: fmt.Errorf("zone %s: syntax error at column %s (%s); the text is not shown, as nothing before it in this file is zone data", origin, m[5], msg)}
			}
			return &Error{File: name, Line: line, Err: fmt.Errorf("zone %s: %s: %s", origin, msg, token)}
		}
	}
	if hide {
		return &Error{File: at.File, Line: at.Line, Err: fmt.Errorf("zone %s: syntax error; the text is not shown, as nothing before it in this file is zone data", origin)}
	}
	return &Error{File: at.File, Line: at.Line, Err: fmt.Errorf("zone %s: %w", origin, err)}
}

// lineFS opens zone files (and their $INCLUDEs) through readers that count
// lines, so that each record can be placed at the file and line it ends on:
// miekg/dns reports lines only for syntax errors.
type lineFS struct {
	current *lineReader
	guard   *loadGuard // the zone's byte budget; $INCLUDEs count against it
}

// pos is where the lexer is: the line of the record just returned, whose
// final newline it has consumed (see lineReader.line).
func (l *lineFS) pos() Pos {
	if l.current == nil {
		return Pos{}
	}
	return Pos{File: l.current.name, Line: l.current.line}
}

func (l *lineFS) open(path, display string) (*lineReader, error) {
	data, err := l.guard.read(path)
	if err != nil {
		return nil, readError(err)
	}
	return l.read(display, data), nil
}

// read makes a reader of the texts one after the other, named name.
func (l *lineFS) read(name string, texts ...[]byte) *lineReader {
	return &lineReader{cur: texts[0], rest: texts[1:], name: name, line: 1, fs: l}
}

// Open implements fs.FS for $INCLUDE. miekg/dns strips the leading slash of
// the (already joined) path before calling Open.
func (l *lineFS) Open(name string) (fs.File, error) {
	return l.open("/"+name, "/"+name)
}

// lineReader is the io.ByteReader miekg/dns's lexer reads byte by byte,
// over text in memory (zone files are read whole).
type lineReader struct {
	cur  []byte
	off  int
	rest [][]byte // texts to read after cur
	name string
	line int // line of the last byte read
	// afterNewline: the last byte read ended a line; the next byte starts the next.
	afterNewline bool
	fs           *lineFS
}

func (r *lineReader) ReadByte() (byte, error) {
	for r.off == len(r.cur) {
		if len(r.rest) == 0 {
			return 0, io.EOF
		}
		r.cur, r.rest, r.off = r.rest[0], r.rest[1:], 0
	}
	c := r.cur[r.off]
	r.off++
	if r.fs.current != r {
		r.fs.current = r
	}
	if r.afterNewline {
		r.line++
	}
	r.afterNewline = c == '\n'
	return c, nil
}

func (r *lineReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := r.ReadByte()
		if err != nil {
			if n == 0 {
				return 0, err
			}
			break
		}
		p[n] = c
		n++
	}
	return n, nil
}

func (r *lineReader) Stat() (fs.FileInfo, error) { return nil, errors.ErrUnsupported }

func (r *lineReader) Close() error { return nil }
