package zones

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

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
	lines := &lineFS{}
	abs, err := filepath.Abs(path)
	if err == nil {
		var f *lineReader
		if f, err = lines.open(abs, path); err == nil {
			defer f.Close()
			// The parser sees the absolute name so that $INCLUDE resolves
			// against this file's folder; messages show the name as given.
			b.parse(f, abs, lines, true)
			return
		}
	}
	b.broken = true
	b.errs = append(b.errs, &Error{File: b.at.File, Line: b.at.Line, Err: fmt.Errorf("zone %s: cannot read its file: %w", b.origin, err)})
}

// AddText adds records written in master-file syntax (relative names are
// relative to the origin), e.g. "www 60 IN A 192.0.2.1". Each error is
// placed at pos.
func (b *Builder) AddText(text string, pos Pos) {
	lines := &lineFS{}
	r := lines.wrap(strings.NewReader(text+"\n"), pos.File)
	r.line = pos.Line
	b.parse(r, pos.File, lines, false) // $INCLUDE belongs in zone files, not in a config
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
func (b *Builder) parse(r *lineReader, file string, lines *lineFS, includes bool) {
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
			batch.err = parseError(err, lines.pos(), b.origin)
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
func parseError(err error, at Pos, origin string) error {
	var pe *dns.ParseError
	if errors.As(err, &pe) {
		if m := parseErrorAt.FindStringSubmatch(pe.Error()); m != nil {
			line, _ := strconv.Atoi(m[3])
			if m[1] == at.File && at.Line > 1 && line <= 1 {
				line = at.Line // inline records: the lexer counts from the record, not the config
			}
			return &Error{File: m[1], Line: line, Err: fmt.Errorf("zone %s: %s", origin, m[2])}
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
