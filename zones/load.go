package zones

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// DefaultTTL is the TTL of records that give none when no $TTL precedes them
// (the SOA MINIMUM would be RFC 1035's choice, but it is not known before
// the SOA is read; BIND and NSD warn and use their default likewise).
const DefaultTTL = 3600

// LoadFile reads an RFC 1035 master file into b. Relative names are relative
// to the zone's origin; $INCLUDE paths are relative to the including file.
// A syntax error is reported and reading goes on at the next record with
// its own owner; records outside the zone are reported and skipped.
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
		b.parse(source{name: path, file: abs, data: data, line: 1, includes: true})
		return
	}
	// Each chunk is parsed (and its records packed) by its own goroutine;
	// this one files the records in file order: the first chunk's as they
	// come, each later one's once the one before is done.
	outs := make([]*batchQueue, len(chunks))
	for i, c := range chunks {
		outs[i] = newBatchQueue()
		src := source{name: path, file: abs, data: data[c.start:c.end], line: c.line, includes: true}
		if i > 0 {
			src.origin, src.ttl, src.afterData = c.origin, c.ttl, true
		}
		go b.parseInto(outs[i], src)
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
	// $INCLUDE belongs in zone files, not in a config.
	b.parse(source{name: pos.File, file: pos.File, data: []byte(text + "\n"), line: pos.Line})
}

// packedBatch is records packed by a parsing goroutine for the builder,
// all from one file (a later chunk's wait here, so they are kept small).
type packedBatch struct {
	file   string
	owners []string
	ends   []int32 // record i is buf[ends[i-1]:ends[i]]
	lines  []int32
	buf    []byte
	errs   []error // records refused, and syntax errors
	syntax bool    // a syntax error: records may be missing, so the apex is not judged
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
func (b *Builder) parse(src source) {
	q := newBatchQueue()
	go b.parseInto(q, src)
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
			b.broken = b.broken || batch.syntax
		}
	}
}

// parseInto parses src and queues its records, packed, into q. After a
// syntax error it goes on with a fresh parser at the next record, so that
// one run reports every error.
func (b *Builder) parseInto(q *batchQueue, src source) {
	lines := &lineFS{guard: b.guard}
	scratch := make([]byte, 65535+512)
	var batch packedBatch
	// Records read from each file: an error in a file that gave none may
	// be in a file that is no zone file at all (a token, /etc/shadow), and
	// its text is then not repeated.
	seen := map[string]int{}
	n := 0
	for s := &src; s != nil; {
		r, lineOffset := s.reader(lines)
		zp := dns.NewZoneParser(r, b.origin, s.file)
		zp.SetDefaultTTL(DefaultTTL)
		zp.SetIncludeAllowed(s.includes)
		zp.SetIncludeFS(lines)
		lastEnd := 0 // line of s the last record read ended on
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			if n++; n%256 == 0 && b.guard.stopped() {
				break // a limit was passed or the load was cancelled: the builder says which
			}
			pos := lines.pos()
			seen[pos.File]++
			if pos.File == s.name {
				lastEnd = pos.Line
			}
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
		err := zp.Err()
		if err == nil {
			break
		}
		next, serr := b.syntaxError(err, s, r, lines, lineOffset, lastEnd, seen)
		batch.errs = append(batch.errs, serr)
		batch.syntax = true
		if b.guard.stopped() || next != nil && len(next.data) >= len(s.data) {
			next = nil // a limit was passed, or no progress: never loop
		}
		s = next
	}
	q.put(batch, true)
}

var parseErrorAt = regexp.MustCompile(`^(.*?): dns: (.*) at line: (\d+):\d+$`)

// syntaxError turns miekg/dns's "FILE: dns: MSG at line: L:C" into our
// FILE:LINE: form in plain words, and returns the rest of s to parse. An
// error in s is placed in s's name, its line moved by lineOffset (s may
// start inside a file); one in an $INCLUDEd file stays at that file's line,
// and parsing goes on in s after the $INCLUDE (r's line).
// A file that gave no record before its error (seen) may be no zone file at
// all (an $INCLUDE of a token or of /etc/shadow): then neither its text nor
// anything the parser read is repeated, in -check output, logs or the API;
// the file and line say where to look.
func (b *Builder) syntaxError(err error, s *source, r *lineReader, lines *lineFS, lineOffset, lastEnd int, seen map[string]int) (*source, error) {
	var pe *dns.ParseError
	var m []string
	if errors.As(err, &pe) {
		m = parseErrorAt.FindStringSubmatch(pe.Error())
	}
	if m == nil {
		at := lines.pos()
		if seen[at.File] == 0 && errors.Unwrap(err) == nil {
			return nil, &Error{File: at.File, Line: at.Line, Err: fmt.Errorf("zone %s: %s", b.origin, hiddenText)}
		}
		return nil, &Error{File: at.File, Line: at.Line, Err: fmt.Errorf("zone %s: %w", b.origin, err)}
	}
	name, msg := m[1], m[2]
	line, _ := strconv.Atoi(m[3])
	if name == s.file {
		line += lineOffset
		text, at, resume, exact := s.explain(b.origin, line, lastEnd, msg)
		if seen[s.name] == 0 && s.includes && !s.afterData && !zoneLike(s.data, at-s.line) { // a file, not the config's own records
			text = hiddenText
		}
		return s.rest(b.origin, resume, exact), &Error{File: s.name, Line: at, Err: fmt.Errorf("zone %s: %s", b.origin, text)}
	}
	// miekg/dns names an included file by the path it gave our fs.FS:
	// without its leading slash.
	name = "/" + strings.TrimLeft(name, "/")
	text := plainWords(msg, lines.lineText(name, line))
	if seen[name] == 0 && !zoneLike(lines.files[name], line-1) {
		text = hiddenText
	}
	return s.rest(b.origin, r.line+1, false), &Error{File: name, Line: line, Err: fmt.Errorf("zone %s: %s", b.origin, text)}
}

// zoneLike reports whether the first n lines of data show it is a zone
// file though no record came from it yet: a comment or a directive. A
// token or a password file has neither.
func zoneLike(data []byte, n int) bool {
	for i := 0; i < n && len(data) > 0; i++ {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] == ';' {
			return true
		}
		for _, d := range []string{"$TTL", "$ORIGIN", "$INCLUDE", "$GENERATE"} {
			if len(t) > len(d) && bytes.EqualFold(t[:len(d)], []byte(d)) && (t[len(d)] == ' ' || t[len(d)] == '\t') {
				return true
			}
		}
	}
	return false
}

// hiddenText stands for an error's words in a file that gave no zone data.
const hiddenText = "syntax error; the text is not shown, as nothing before it in this file is zone data"

// lineFS opens zone files (and their $INCLUDEs) through readers that count
// lines, so that each record can be placed at the file and line it ends on:
// miekg/dns reports lines only for syntax errors.
type lineFS struct {
	current *lineReader
	files   map[string][]byte // included files by name, for error messages
	guard   *loadGuard        // the zone's byte budget; $INCLUDEs count against it
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
	if l.files == nil {
		l.files = map[string][]byte{}
	}
	l.files[display] = data
	return l.read(display, data), nil
}

// lineText returns line n of an included file, for error messages.
func (l *lineFS) lineText(name string, n int) string {
	data := l.files[name]
	for i := 1; i < n && len(data) > 0; i++ {
		if j := bytes.IndexByte(data, '\n'); j >= 0 {
			data = data[j+1:]
		} else {
			data = nil
		}
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return string(data)
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
