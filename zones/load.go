package zones

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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
// A syntax error stops reading that file; records outside the zone are
// reported and skipped.
func (b *Builder) LoadFile(path string) {
	abs, err := filepath.Abs(path)
	var data []byte
	if err == nil {
		data, err = os.ReadFile(abs)
	}
	if err != nil {
		b.broken = true
		b.errs = append(b.errs, &Error{File: b.at.File, Line: b.at.Line, Err: fmt.Errorf("zone %s: cannot read its file: %w", b.origin, err)})
		return
	}
	// The parsers see the absolute name so that $INCLUDE resolves against
	// this file's folder; messages show the name as given.
	chunks := splitZone(data, b.origin, runtime.GOMAXPROCS(0))
	if chunks == nil {
		lines := &lineFS{}
		b.parse(lines.wrap(bytes.NewReader(data), path), abs, lines, true, 0)
		return
	}
	subs := make([]*Builder, len(chunks))
	var wg sync.WaitGroup
	for i, c := range chunks {
		sub := b
		if i > 0 {
			sub = NewBuilder(b.origin)
			sub.at = b.at
			subs[i] = sub
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines := &lineFS{}
			if i == 0 {
				sub.parse(lines.wrap(bytes.NewReader(data[c.start:c.end]), path), abs, lines, true, 0)
				return
			}
			r := lines.wrap(io.MultiReader(strings.NewReader(c.prefix()), bytes.NewReader(data[c.start:c.end])), path)
			r.line = c.line - 2 // the prefix's two lines come first
			sub.parse(r, abs, lines, true, c.line-3)
		}()
	}
	wg.Wait()
	for _, sub := range subs[1:] {
		b.merge(sub)
	}
}

// merge adds what sub loaded (a later part of the same file) to b.
func (b *Builder) merge(sub *Builder) {
	for _, n := range sub.allNodes() {
		n.file = b.fileIndex(sub.files[n.file])
		if have := b.nodes[n.Name]; have != nil {
			have.data = append(have.data, n.data...)
			continue
		}
		b.nodes[n.Name] = n // it stays in sub's arena
		b.orphans = append(b.orphans, n)
	}
	b.errs = append(b.errs, sub.errs...)
	b.size += sub.size
	b.broken = b.broken || sub.broken
}

// AddText adds records written in master-file syntax (relative names are
// relative to the origin), e.g. "www 60 IN A 192.0.2.1". Each error is
// placed at pos.
func (b *Builder) AddText(text string, pos Pos) {
	lines := &lineFS{}
	r := lines.wrap(strings.NewReader(text+"\n"), pos.File)
	r.line = pos.Line
	b.parse(r, pos.File, lines, false, max(pos.Line-1, 0)) // $INCLUDE belongs in zone files, not in a config
}

// parsedBatch is records handed from the parsing goroutine to the builder.
type parsedBatch struct {
	rrs []dns.RR
	pos []Pos
	err error // the parser's error, with the last batch
}

// parseBatch is the records parsed between two hand-overs.
const parseBatch = 512

// parse reads master-file text into b. Lexing and parsing (miekg/dns) run
// in their own goroutine while this one files the records into the tree,
// so that a large zone loads in about the time parsing alone takes.
//
// file is the name the parser knows the text by (an absolute path, so that
// $INCLUDE works); errors in it are reported under r's name with lineOffset
// added to the parser's line numbers (the text may start inside a file).
func (b *Builder) parse(r *lineReader, file string, lines *lineFS, includes bool, lineOffset int) {
	batches := make(chan parsedBatch, 4)
	go func() {
		defer close(batches)
		zp := dns.NewZoneParser(r, b.origin, file)
		zp.SetDefaultTTL(DefaultTTL)
		zp.SetIncludeAllowed(includes)
		zp.SetIncludeFS(lines)
		batch := parsedBatch{rrs: make([]dns.RR, 0, parseBatch), pos: make([]Pos, 0, parseBatch)}
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			batch.rrs = append(batch.rrs, rr)
			batch.pos = append(batch.pos, lines.pos())
			if len(batch.rrs) == parseBatch {
				batches <- batch
				batch = parsedBatch{rrs: make([]dns.RR, 0, parseBatch), pos: make([]Pos, 0, parseBatch)}
			}
		}
		if err := zp.Err(); err != nil {
			batch.err = parseError(err, lines.pos(), b.origin, file, r.name, lineOffset)
		}
		batches <- batch
	}()
	for batch := range batches {
		for i, rr := range batch.rrs {
			b.Add(rr, batch.pos[i])
		}
		if batch.err != nil {
			b.errs = append(b.errs, batch.err)
		}
	}
}

var parseErrorAt = regexp.MustCompile(`^(.*?): dns: (.*) at line: (\d+):\d+$`)

// parseError turns miekg/dns's "FILE: dns: MSG at line: L:C" into our
// FILE:LINE: form.
// An error in the parser's own text (file) is placed under display, its
// line moved by lineOffset; one in an $INCLUDEd file stays as it is.
func parseError(err error, at Pos, origin, file, display string, lineOffset int) error {
	var pe *dns.ParseError
	if errors.As(err, &pe) {
		if m := parseErrorAt.FindStringSubmatch(pe.Error()); m != nil {
			name := m[1]
			line, _ := strconv.Atoi(m[3])
			if name == file {
				name, line = display, line+lineOffset
			}
			return &Error{File: name, Line: line, Err: fmt.Errorf("zone %s: %s", origin, m[2])}
		}
	}
	return &Error{File: at.File, Line: at.Line, Err: fmt.Errorf("zone %s: %w", origin, err)}
}

// lineFS opens zone files (and their $INCLUDEs) through readers that count
// lines, so that each record can be placed at the file and line it ends on:
// miekg/dns reports lines only for syntax errors.
type lineFS struct {
	current *lineReader
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
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r := l.wrap(f, display)
	r.closer = f
	return r, nil
}

func (l *lineFS) wrap(r io.Reader, name string) *lineReader {
	lr := &lineReader{br: bufio.NewReaderSize(r, 64<<10), name: name, line: 1, fs: l}
	return lr
}

// Open implements fs.FS for $INCLUDE. miekg/dns strips the leading slash of
// the (already joined) path before calling Open.
func (l *lineFS) Open(name string) (fs.File, error) {
	return l.open("/"+name, "/"+name)
}

// lineReader is the io.ByteReader miekg/dns's lexer reads byte by byte.
type lineReader struct {
	br   *bufio.Reader
	name string
	line int // line of the last byte read
	// afterNewline: the last byte read ended a line; the next byte starts the next.
	afterNewline bool
	fs           *lineFS
	closer       io.Closer
}

func (r *lineReader) ReadByte() (byte, error) {
	c, err := r.br.ReadByte()
	r.fs.current = r
	if err == nil {
		if r.afterNewline {
			r.line++
		}
		r.afterNewline = c == '\n'
	}
	return c, err
}

func (r *lineReader) Read(p []byte) (int, error) { return r.br.Read(p) }

func (r *lineReader) Stat() (fs.FileInfo, error) { return nil, errors.ErrUnsupported }

func (r *lineReader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}
