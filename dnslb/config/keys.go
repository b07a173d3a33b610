package config

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// lazyKeys locates keys in the source only when an error needs a line.
type lazyKeys struct {
	once  sync.Once
	src   string
	lines keyLines
}

func (l *lazyKeys) get() keyLines {
	l.once.Do(func() { l.lines = locateKeys(l.src) })
	return l.lines
}

func (l *lazyKeys) line(path string) int { return l.get().line(path) }

// linesOf returns, in file order, the lines of paths that equal dotted once
// array indexes are removed.
func (k keyLines) linesOf(dotted string) []int {
	var out []int
	for p, l := range k {
		if stripIndexes(p) == dotted {
			out = append(out, l)
		}
	}
	sort.Ints(out)
	return out
}

func stripIndexes(p string) string {
	var b strings.Builder
	skip := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '[':
			skip = true
		case c == ']':
			skip = false
		case !skip:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// tomlKeys returns the toml tags of a TOML struct, for hints.
func tomlKeys(v any) []string {
	t := reflect.TypeOf(v)
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

// keyLines maps each key path written in a TOML document to its line, so
// that semantic errors can say where they are: BurntSushi/toml keeps key
// positions private. Paths look like "server.listen", "check.web.port",
// "pool[1].members[0].address", "zone[0].records[2]". It is run only on
// documents toml has already parsed, so it can stop at anything odd.
type keyLines map[string]int

// line returns the line of path, or of its nearest recorded ancestor, or 0.
func (k keyLines) line(path string) int {
	for path != "" {
		if l, ok := k[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

func locateKeys(src string) keyLines {
	s := &tomlScanner{src: src, line: 1, lines: keyLines{}, tables: map[string]int{}}
	s.document()
	return s.lines
}

type tomlScanner struct {
	src    string
	pos    int
	line   int
	lines  keyLines
	tables map[string]int // array-of-tables name → elements seen
}

func (s *tomlScanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

func (s *tomlScanner) next() byte {
	c := s.peek()
	if c == '\n' {
		s.line++
	}
	s.pos++
	return c
}

// skip passes blanks, and newlines and comments when multiline is set.
func (s *tomlScanner) skip(multiline bool) {
	for s.pos < len(s.src) {
		switch c := s.peek(); {
		case c == ' ' || c == '\t' || c == '\r':
			s.next()
		case c == '\n' && multiline:
			s.next()
		case c == '#':
			for s.pos < len(s.src) && s.peek() != '\n' {
				s.next()
			}
		default:
			return
		}
	}
}

func (s *tomlScanner) document() {
	table := ""
	for {
		s.skip(true)
		if s.pos >= len(s.src) {
			return
		}
		if s.peek() == '[' {
			s.next()
			array := s.peek() == '['
			if array {
				s.next()
			}
			line := s.line
			name := s.key()
			for s.pos < len(s.src) && s.peek() != '\n' {
				s.next()
			}
			if array {
				i := s.tables[name]
				s.tables[name] = i + 1
				name += "[" + strconv.Itoa(i) + "]"
			} else if head, rest, ok := strings.Cut(name, "."); ok && s.tables[head] > 0 {
				// A sub-table ([zone.dnssec]) belongs to the array's last element.
				name = head + "[" + strconv.Itoa(s.tables[head]-1) + "]." + rest
			}
			table = name
			s.record(table, line)
			continue
		}
		start := s.pos
		s.keyValue(table)
		if s.pos == start {
			return // not TOML we understand; the decoder has judged it already
		}
	}
}

func (s *tomlScanner) record(path string, line int) {
	if _, ok := s.lines[path]; !ok {
		s.lines[path] = line
	}
}

// key reads a possibly dotted, possibly quoted key.
func (s *tomlScanner) key() string {
	var parts []string
	for {
		s.skip(false)
		switch c := s.peek(); c {
		case '"', '\'':
			parts = append(parts, s.str())
		default:
			start := s.pos
			for s.pos < len(s.src) && isBareKey(s.peek()) {
				s.next()
			}
			if s.pos == start {
				return strings.Join(parts, ".")
			}
			parts = append(parts, s.src[start:s.pos])
		}
		s.skip(false)
		if s.peek() != '.' {
			return strings.Join(parts, ".")
		}
		s.next()
	}
}

func isBareKey(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func (s *tomlScanner) keyValue(table string) {
	line := s.line
	k := s.key()
	if k == "" {
		return
	}
	path := k
	if table != "" {
		path = table + "." + k
	}
	s.record(path, line)
	s.skip(false)
	if s.peek() != '=' {
		return
	}
	s.next()
	s.skip(false)
	s.value(path)
}

func (s *tomlScanner) value(path string) {
	switch s.peek() {
	case '{':
		s.next()
		for {
			s.skip(true)
			if c := s.peek(); c == '}' || c == 0 {
				s.next()
				return
			}
			start := s.pos
			s.keyValue(path)
			s.skip(true)
			if s.peek() == ',' {
				s.next()
			} else if s.pos == start {
				return
			}
		}
	case '[':
		s.next()
		for i := 0; ; i++ {
			s.skip(true)
			if c := s.peek(); c == ']' || c == 0 {
				s.next()
				return
			}
			elem := path + "[" + strconv.Itoa(i) + "]"
			s.record(elem, s.line)
			start := s.pos
			s.value(elem)
			s.skip(true)
			if s.peek() == ',' {
				s.next()
			} else if s.pos == start {
				return
			}
		}
	case '"', '\'':
		s.str()
	default:
		for s.pos < len(s.src) {
			switch s.peek() {
			case ',', ']', '}', '\n', '#':
				return
			}
			s.next()
		}
	}
}

// str reads a basic or literal string, single- or multi-line, and returns
// its raw text (escapes are not needed for key paths).
func (s *tomlScanner) str() string {
	q := s.next()
	triple := strings.HasPrefix(s.src[s.pos:], string([]byte{q, q}))
	if triple {
		s.next()
		s.next()
	}
	start := s.pos
	for s.pos < len(s.src) {
		c := s.peek()
		if c == '\\' && q == '"' {
			s.next()
			s.next()
			continue
		}
		if c == q && (!triple || strings.HasPrefix(s.src[s.pos:], string([]byte{q, q, q}))) {
			out := s.src[start:s.pos]
			s.next()
			if triple {
				s.next()
				s.next()
			}
			return out
		}
		if c == '\n' && !triple {
			return s.src[start:s.pos]
		}
		s.next()
	}
	return s.src[start:]
}
