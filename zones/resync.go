package zones

import (
	"bytes"
	"fmt"
)

// source is master-file text one parser reads: a whole file, a chunk of
// one, a config's record, or what follows a syntax error.
type source struct {
	name        string // shown in errors and record positions
	file        string // the name the parser knows (absolute, so that $INCLUDE resolves)
	data        []byte
	line        int    // line of data[0] in name
	origin, ttl string // $ORIGIN and $TTL in effect at data[0] ("": the zone's origin, no $TTL)
	includes    bool
	afterData   bool // a later chunk of a file: zone data came before it
}

// reader returns a reader of s for a parser, the directives in effect
// first, and what to add to the parser's line numbers of errors.
func (s source) reader(lines *lineFS) (*lineReader, int) {
	var prefix []byte
	if s.origin != "" {
		prefix = append(prefix, "$ORIGIN "+s.origin+"\n"...)
	}
	if s.ttl != "" {
		prefix = append(prefix, "$TTL "+s.ttl+"\n"...)
	}
	n := bytes.Count(prefix, []byte{'\n'})
	r := lines.read(s.name, s.data)
	if n > 0 {
		r = lines.read(s.name, prefix, s.data)
	}
	r.line = s.line - n
	return r, max(s.line-n-1, 0)
}

// sourceLine is one line of a source as resync sees it.
type sourceLine struct {
	line     int // in the source's name
	off, end int // byte range in data
	depth    int // parenthesis depth at its start
}

// scan walks the lines of s, following parentheses and directives, until
// stop returns true for a line, which it returns with the directives in
// effect there and the line of the parenthesis open there (0: none).
func (s source) scan(origin string, stop func(l sourceLine) bool) (at sourceLine, cur zoneChunk, openAt int, found bool) {
	cur = zoneChunk{origin: s.origin, ttl: s.ttl}
	if cur.origin == "" {
		cur.origin = origin
	}
	depth := 0
	line := s.line
	for off := 0; off < len(s.data); line++ {
		end := bytes.IndexByte(s.data[off:], '\n')
		if end < 0 {
			end = len(s.data)
		} else {
			end += off + 1
		}
		l := sourceLine{line: line, off: off, end: end, depth: depth}
		if stop(l) {
			return l, cur, openAt, true
		}
		text := s.data[off:end]
		if depth == 0 && len(text) > 0 && text[0] == '$' {
			cur.directive(text)
		}
		d := parens(text)
		if depth == 0 && d > 0 {
			openAt = line
		}
		depth = max(depth+d, 0)
		if depth == 0 {
			openAt = 0
		}
		off = end
	}
	return sourceLine{}, cur, openAt, false
}

// startsRecord reports whether text begins a record with its own owner (or
// a directive): where a parser can start afresh.
func startsRecord(text []byte) bool {
	if len(text) == 0 {
		return false
	}
	switch text[0] {
	case ' ', '\t', ';', '\n', '\r', '(', ')':
		return false
	}
	return true
}

// explain rewords a parse error at line errLine of s, and moves it to the
// line of the mistake: the "(" never closed, or the record that ran over
// into the next line for want of fields (lastEnd is the line the last
// record read ended on, 0 for none). Parsing can go on at the first record
// from line resume; at resume itself when exact (a record the mistake
// swallowed).
func (s source) explain(origin string, errLine, lastEnd int, msg string) (text string, at, resume int, exact bool) {
	l, _, openAt, ok := s.scan(origin, func(l sourceLine) bool { return l.line == errLine })
	if !ok {
		return plainWords(msg, ""), errLine, errLine + 1, false
	}
	line := s.data[l.off:l.end]
	if l.depth > 0 && openAt > 0 && startsRecord(line) {
		// A record with its own owner inside parentheses: the "(" of the
		// record before was never closed.
		return fmt.Sprintf(`"(" is not closed before the next record (line %d): end the record with ")"`, errLine), openAt, errLine, true
	}
	if l.depth == 0 && startsRecord(line) {
		// The error is on a line that starts a record, but the record being
		// read began earlier: it lacked fields and ran into this line.
		start, _, _, found := s.scan(origin, func(m sourceLine) bool {
			text := s.data[m.off:m.end]
			return m.line > lastEnd && m.line < errLine && m.depth == 0 && startsRecord(text) && text[0] != '$'
		})
		if found {
			typ := recordType(string(s.data[start.off:start.end]))
			return fmt.Sprintf("%s record: it lacks fields, so the next line (%d) was read as its data: write every field%s", typ, errLine, example(typ)), start.line, errLine, true
		}
	}
	if unclosedQuote(line) {
		return `a quoted string is not closed: end it with '"' on the same line`, errLine, errLine + 1, false
	}
	return plainWords(msg, string(line)), errLine, errLine + 1, false
}

// unclosedQuote reports whether line has a '"' that is not closed on it
// (outside a comment).
func unclosedQuote(line []byte) bool {
	_, quoted := scanLine(line)
	return quoted
}

// rest returns s from the first record at or after line from, outside
// parentheses (or at from itself when exact), with the directives in effect
// there; nil when none is left.
func (s source) rest(origin string, from int, exact bool) *source {
	l, cur, _, ok := s.scan(origin, func(l sourceLine) bool {
		text := s.data[l.off:l.end]
		return (l.line >= from && l.depth == 0 || exact && l.line == from) && startsRecord(text)
	})
	if !ok {
		return nil
	}
	r := s
	r.data, r.line, r.origin, r.ttl = s.data[l.off:], l.line, cur.origin, cur.ttl
	return &r
}
