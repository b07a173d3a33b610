package zones

import (
	"bytes"
	"strings"
)

// A large master file is cut into chunks parsed side by side, each by its
// own miekg/dns ZoneParser: parsing is most of the cost of loading a zone,
// and one parser keeps one core busy. A chunk starts where a record names
// its owner (no inherited owner), outside parentheses, after a $TTL: so
// that, given the $ORIGIN and $TTL in effect there, it parses exactly as it
// would in sequence.

// splitMin is the smallest file worth cutting (a variable for tests).
var splitMin = 4 << 20

// zoneChunk is a piece of a master file that parses on its own.
type zoneChunk struct {
	start, end  int    // byte range in the file
	line        int    // line number of start
	origin, ttl string // $ORIGIN and $TTL in effect at start
}

// splitZone cuts data into at most n chunks of about equal size, or
// returns nil when it should be parsed in one piece.
func splitZone(data []byte, origin string, n int) []zoneChunk {
	if n < 2 || len(data) < splitMin {
		return nil
	}
	chunks := []zoneChunk{{start: 0, line: 1, origin: origin}}
	next := len(data) / n
	cur := zoneChunk{origin: origin}
	depth := 0
	line := 1
	for off := 0; off < len(data); line++ {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += off + 1
		}
		text := data[off:end]
		if depth == 0 && len(text) > 0 {
			switch c := text[0]; {
			case c == '$':
				cur.directive(text)
			case off >= next && cur.ttl != "" && c != ' ' && c != '\t' && c != ';' && c != '\n' && c != '\r' && c != '(':
				chunks[len(chunks)-1].end = off
				chunks = append(chunks, zoneChunk{start: off, line: line, origin: cur.origin, ttl: cur.ttl})
				next = off + len(data)/n
				if len(chunks) == n {
					next = len(data) + 1
				}
			}
		}
		if depth > 0 || bytes.IndexByte(text, '(') >= 0 {
			depth += parens(text) // most lines have no parenthesis at all
		}
		if depth < 0 {
			return nil // not a file we understand; let the parser say why
		}
		off = end
	}
	chunks[len(chunks)-1].end = len(data)
	if len(chunks) < 2 {
		return nil
	}
	return chunks
}

// directive follows $ORIGIN and $TTL.
func (c *zoneChunk) directive(text []byte) {
	if i := bytes.IndexByte(text, ';'); i >= 0 {
		text = text[:i] // a comment (a directive's value never holds ';')
	}
	f := strings.Fields(string(text))
	if len(f) < 2 {
		return
	}
	switch strings.ToUpper(f[0]) {
	case "$ORIGIN":
		o := f[1]
		switch {
		case strings.HasSuffix(o, ".") && !escaped(o, len(o)-1):
		case c.origin == ".":
			o += "."
		default:
			o += "." + c.origin
		}
		c.origin = o
	case "$TTL":
		c.ttl = f[1]
	}
}

// parens returns the change in parenthesis depth over a line, outside
// quotes and comments.
func parens(text []byte) int {
	d, _ := scanLine(text)
	return d
}

// scanLine returns the change in parenthesis depth over a line and whether
// a quote is left open at its end, outside comments.
func scanLine(text []byte) (depth int, quoted bool) {
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				return depth, false
			}
		case '(':
			if !quoted {
				depth++
			}
		case ')':
			if !quoted {
				depth--
			}
		}
	}
	return depth, quoted
}
