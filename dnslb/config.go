package dnslb

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/miekg/dns"
)

// Config is one dnslb.toml: what was written, with defaults applied and every
// value checked. The README's configuration reference documents each key.
type Config struct {
	Server ServerConfig            `toml:"server"`
	Log    LogConfig               `toml:"log"`
	RRL    RRLConfig               `toml:"rrl"`
	Zones  []ZoneConfig            `toml:"zone"`
	Checks map[string]*CheckConfig `toml:"check"`
	Pools  []*PoolConfig           `toml:"pool"`
	Maps   map[string]*MapConfig   `toml:"map"`

	File string    `toml:"-"` // the path it was read from
	Hash string    `toml:"-"` // sha256 of the file's bytes, hex
	Dir  string    `toml:"-"` // the folder relative paths are relative to
	keys *lazyKeys // where each key is written, for errors found later (zone build)
}

// ServerConfig is [server].
type ServerConfig struct {
	Listen            []string `toml:"listen"`              // default ["127.0.0.1:5353"]; UDP and TCP on each
	HTTP              *string  `toml:"http"`                // default "127.0.0.1:8053"; "" turns the HTTP side off
	AdminTokenFile    string   `toml:"admin_token_file"`    // default none: mutating API calls are refused
	StateFile         string   `toml:"state_file"`          // default none: overrides live in memory only
	UDPSize           int      `toml:"udp_size"`            // default 1232: largest UDP response we send
	Workers           int      `toml:"workers"`             // default 0 = one UDP socket per CPU (runtime.NumCPU) on each address
	TCPIdleTimeout    Duration `toml:"tcp_idle_timeout"`    // default 10s between queries on a TCP connection
	TCPReadTimeout    Duration `toml:"tcp_read_timeout"`    // default 5s to read one query once it has begun
	TCPMaxConnections int      `toml:"tcp_max_connections"` // default 1000 open TCP connections in all
	TCPMaxQueries     int      `toml:"tcp_max_queries"`     // default 10000 queries per connection, then it is closed
	HealthConcurrency int      `toml:"health_concurrency"`  // default 256 probes in flight at once

	listen []string // normalized host:port
	http   string
}

// LogConfig is [log].
type LogConfig struct {
	Format      string  `toml:"format"`       // default "text"; or "json"
	Level       string  `toml:"level"`        // default "info"; debug | info | warn | error
	Queries     bool    `toml:"queries"`      // default false: one line per query when true
	QuerySample float64 `toml:"query_sample"` // default 1: fraction of queries logged when queries = true
}

// RRLConfig is [rrl], response rate limiting (off by default).
type RRLConfig struct {
	ResponsesPerSecond int      `toml:"responses_per_second"` // default 0 = off
	Slip               int      `toml:"slip"`                 // default 2: every 2nd limited response is sent truncated
	IPv4Prefix         int      `toml:"ipv4_prefix"`          // default 24
	IPv6Prefix         int      `toml:"ipv6_prefix"`          // default 56
	Window             int      `toml:"window"`               // default 15 seconds of credit
	Exempt             []string `toml:"exempt"`               // prefixes never limited, e.g. ["127.0.0.0/8"]
}

// ZoneConfig is one [[zone]].
type ZoneConfig struct {
	Origin  string   `toml:"origin"`  // required
	File    string   `toml:"file"`    // RFC 1035 master file, relative to the config file
	Records []string `toml:"records"` // master-file lines, relative to origin
}

// Duration is a TOML string such as "2s" or "500ms".
type Duration struct {
	time.Duration
	Set bool // written in the file
}

// UnmarshalText keeps the text; validation parses it so that every error is
// reported with its line, not just the first.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration: write a number with a unit, e.g. \"2s\" or \"500ms\"", b)
	}
	d.Duration, d.Set = v, true
	return nil
}

// ConfigError is one problem in a config file.
type ConfigError struct {
	File string
	Line int
	Msg  string
}

// Error is one line: a message that quotes the file (a TOML parse error
// can) has its line breaks escaped, so that each error stays one line.
func (e *ConfigError) Error() string {
	msg := strings.ReplaceAll(e.Msg, "\n", `\n`)
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, msg)
	}
	return fmt.Sprintf("%s: %s", e.File, msg)
}

// LoadConfig reads and validates path. The error, when not nil, joins every
// problem found, each as "FILE:LINE: message".
func LoadConfig(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, src)
}

// ParseConfig validates src as if read from path.
func ParseConfig(path string, src []byte) (*Config, error) {
	c, err := parseConfig(path, src)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// parseConfig returns the config even when it has errors (when it could be
// decoded at all), so that -check can go on to check its zones.
func parseConfig(path string, src []byte) (*Config, error) {
	sum := sha256.Sum256(src)
	c := &Config{File: path, Dir: filepath.Dir(path), Hash: hex.EncodeToString(sum[:])}
	md, err := toml.Decode(string(src), c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &ConfigError{File: path, Line: pe.Position.Line, Msg: pe.Message}
		}
		// Type mismatches come as plain errors with the line in the text.
		if m := tomlLineError.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &ConfigError{File: path, Line: line, Msg: m[2] + ": " + m[3]}
		}
		return nil, &ConfigError{File: path, Msg: err.Error()}
	}
	c.keys = &lazyKeys{src: string(src)}
	v := &validator{file: path, keys: c.keys}
	v.unknownKeys(md)
	c.validate(v)
	if len(v.errs) > 0 {
		return c, errors.Join(v.errs...)
	}
	return c, nil
}

var tomlLineError = regexp.MustCompile(`^toml: line (\d+) \(last key "(.*?)"\): (.*)$`)

// validator collects errors with their lines.
type validator struct {
	file string
	keys *lazyKeys
	errs []error
}

// lazyKeys locates keys in the source only when an error needs a line: a
// config of ten thousand pools is not scanned twice on every reload.
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

// errorf records a problem with the key at path ("pool[1].ttl").
func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, &ConfigError{File: v.file, Line: v.keys.line(path), Msg: path + ": " + fmt.Sprintf(format, args...)})
}

// unknownKeys reports keys nothing decoded, with a hint for near misses.
func (v *validator) unknownKeys(md toml.MetaData) {
	seen := map[string]int{}
	for _, k := range md.Undecoded() {
		if len(k) >= 2 && k[0] == "check" && len(k) == 2 {
			continue // the [check.NAME] table itself
		}
		if k[0] == "map" && (len(k) == 2 || len(k) == 3 && slices.Contains([]string{"locations", "nets", "coordinates"}, k[2])) {
			continue // the [map.NAME] table and its tables of entries
		}
		dotted := k.String()
		// Key paths from toml carry no array index; find the n-th line
		// written with that shape.
		lines := v.keys.get().linesOf(dotted)
		n := seen[dotted]
		seen[dotted]++
		line := 0
		if n < len(lines) {
			line = lines[n]
		} else if len(lines) > 0 {
			line = lines[len(lines)-1]
		}
		msg := fmt.Sprintf("unknown key %q", dotted)
		if hint := nearestKey(k[len(k)-1], knownKeys(k)); hint != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", hint)
		} else if known := knownKeys(k); len(known) > 0 {
			msg += fmt.Sprintf(" (valid here: %s)", strings.Join(known, ", "))
		}
		v.errs = append(v.errs, &ConfigError{File: v.file, Line: line, Msg: msg})
	}
}

// linesOf returns, in file order, the lines of paths that equal dotted once
// array indexes are removed.
func (k keyLines) linesOf(dotted string) []int {
	var out []int
	for p, l := range k {
		if stripIndexes(p) == dotted {
			out = append(out, l)
		}
	}
	sortInts(out)
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

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// knownKeys lists the keys valid in the table that holds key k.
func knownKeys(k toml.Key) []string {
	table := k[:len(k)-1]
	switch {
	case len(table) == 0:
		return []string{"server", "log", "rrl", "zone", "check", "pool", "map"}
	case table[0] == "server":
		return tomlKeys(ServerConfig{})
	case table[0] == "log":
		return tomlKeys(LogConfig{})
	case table[0] == "rrl":
		return tomlKeys(RRLConfig{})
	case table[0] == "zone":
		return tomlKeys(ZoneConfig{})
	case table[0] == "check" && len(table) == 2:
		return tomlKeys(CheckConfig{})
	case table[0] == "map" && len(table) == 2:
		return tomlKeys(MapConfig{})
	case table[0] == "pool" && len(table) == 1:
		return tomlKeys(PoolConfig{})
	case table[0] == "pool" && len(table) == 2 && table[1] == "members":
		return tomlKeys(MemberConfig{})
	}
	return nil
}

// nearestKey returns the known key within edit distance 2 of k, if any.
func nearestKey(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// path resolves p relative to the config file's folder.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// Check validates the config at path and everything it loads (zone files,
// pools against zones), without binding anything: `dnslb -check`.
// When the config itself has errors, its zones are still loaded on their
// own, so that one run shows every problem.
func Check(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cfg, err := parseConfig(path, src)
	switch {
	case cfg == nil:
		return err
	case err != nil:
		errs := []error{err}
		for i := range cfg.Zones {
			if _, ok := dns.IsDomainName(cfg.Zones[i].Origin); ok && cfg.Zones[i].Origin != "" {
				if _, zerr := (&snapshot{}).buildZone(cfg, i, nil); zerr != nil {
					errs = append(errs, zerr)
				}
			}
		}
		return errors.Join(errs...)
	}
	_, err = buildSnapshot(cfg, newMemberStates(), nil, nil, 2)
	return err
}
