// Package config reads dnslb.toml: it decodes the TOML, applies defaults,
// checks every value and reports each problem as "FILE:LINE: key: what is
// wrong and what would be valid". What it hands over is typed (addresses,
// prefixes, durations, checks as health.Check), so the server never parses
// a string from the file again.
//
// Each table has one file holding its TOML shape (every key with its
// default), its typed result and the function that builds one from the
// other. To add a key: a field in the TOML struct, a field in the typed
// struct, a line in build. To add a table: the same three in a new file,
// a field in file below, and a case in knownKeys.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/dnslb/dnslb/dnslb/cluster"
	"github.com/dnslb/dnslb/dnslb/tsig"
	"github.com/dnslb/dnslb/health"
	"github.com/dnslb/dnslb/zones"
)

// Config is one dnslb.toml, with defaults applied and every value checked.
// The README's configuration reference documents each key.
type Config struct {
	Server Server
	Log    Log
	RRL    RRL
	Zones  []Zone                   // in file order
	Checks map[string]*health.Check // by name, validated by health
	Pools  []*Pool                  // in file order
	Maps   map[string]*Map          // by name, compiled
	Keys   *tsig.Keyring            // [tsig.NAME], by name; never nil
	// Cluster is [cluster], checked by the cluster package; nil = alone.
	Cluster *cluster.Config

	File string // the path it was read from
	Hash string // sha256 of the file's bytes, hex
	Dir  string // the folder relative paths are relative to

	keys *lazyKeys
	prev *Config // while parsing for Reload: whose compiled maps may be kept
}

// file is the TOML shape of dnslb.toml.
type file struct {
	Server  serverTOML            `toml:"server"`
	Log     logTOML               `toml:"log"`
	RRL     rrlTOML               `toml:"rrl"`
	Zones   []zoneTOML            `toml:"zone"`
	Checks  map[string]*checkTOML `toml:"check"`
	Pools   []*poolTOML           `toml:"pool"`
	TSIG    map[string]*tsigTOML  `toml:"tsig"`
	Maps    map[string]*mapTOML   `toml:"map"`
	Cluster *cluster.Config       `toml:"cluster"`
}

// knownKeys lists the keys valid in the table that holds key k, for hints.
func knownKeys(k toml.Key) []string {
	table := k[:len(k)-1]
	switch {
	case len(table) == 0:
		return tomlKeys(file{})
	case table[0] == "server":
		return tomlKeys(serverTOML{})
	case table[0] == "log":
		return tomlKeys(logTOML{})
	case table[0] == "cluster":
		return tomlKeys(cluster.Config{})
	case table[0] == "rrl":
		return tomlKeys(rrlTOML{})
	case table[0] == "zone" && len(table) == 2 && table[1] == "dnssec":
		return tomlKeys(dnssecTOML{})
	case table[0] == "zone" && len(table) == 2 && table[1] == "update":
		return tomlKeys(updateRuleTOML{})
	case table[0] == "zone" && len(table) == 2 && table[1] == "transfer":
		return tomlKeys(transferRuleTOML{})
	case table[0] == "zone":
		return tomlKeys(zoneTOML{})
	case table[0] == "tsig" && len(table) == 2:
		return tomlKeys(tsigTOML{})
	case table[0] == "check" && len(table) == 2:
		return tomlKeys(checkTOML{})
	case table[0] == "map" && len(table) == 2:
		return tomlKeys(mapTOML{})
	case table[0] == "pool" && len(table) == 1:
		return tomlKeys(poolTOML{})
	case table[0] == "pool" && len(table) == 2 && table[1] == "members":
		return tomlKeys(memberTOML{})
	}
	return nil
}

// Error is one problem in a config file.
type Error struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

// Error is one line: a message that quotes the file (a TOML parse error
// can) has its line breaks escaped, so that each error stays one line.
func (e *Error) Error() string {
	msg := strings.ReplaceAll(e.Msg, "\n", `\n`)
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, msg)
	}
	return fmt.Sprintf("%s: %s", e.File, msg)
}

// Load reads and checks the config at path. The error, when not nil, joins
// every problem found, each an *Error.
func Load(path string) (*Config, error) { return LoadFor(path, Host{}) }

// LoadFor is Load with this host's settings over the file's.
func LoadFor(path string, h Host) (*Config, error) {
	src, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseFor(path, src, h)
}

// Reload is LoadFor for a reload of prev: a map whose spec, nets and
// database file are unchanged is prev's compiled map, not compiled again.
func Reload(path string, h Host, prev *Config) (*Config, error) {
	src, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, src, h, prev)
}

// maxFileBytes bounds the config file (10,000 pools take about 2 MB).
const maxFileBytes = 64 << 20

// ReadFile reads the config file: a regular file (never waiting on a FIFO)
// of at most 64 MiB.
func ReadFile(path string) ([]byte, error) {
	src, err := zones.ReadFile(path, maxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return src, nil
}

// Parse checks src as if read from path. With errors, the Config is still
// returned when the file could be decoded at all, holding what was valid
// (zones with a valid origin, pools with a valid name...), so that
// `dnslb -check` can go on to check zone files; it must not be served.
func Parse(path string, src []byte) (*Config, error) { return ParseFor(path, src, Host{}) }

// ParseFor is Parse with this host's settings over the file's.
func ParseFor(path string, src []byte, h Host) (*Config, error) { return parse(path, src, h, nil) }

func parse(path string, src []byte, h Host, prev *Config) (*Config, error) {
	sum := sha256.Sum256(src)
	var f file
	md, err := toml.Decode(string(src), &f)
	if err != nil {
		return nil, decodeError(path, err)
	}
	h.apply(&f)
	c := &Config{File: path, Dir: filepath.Dir(path), Hash: hex.EncodeToString(sum[:]), keys: &lazyKeys{src: string(src)}, prev: prev}
	v := &validator{file: path, keys: c.keys}
	v.unknownKeys(md)
	c.build(&f, v)
	c.prev = nil
	// In file order: each table is checked in turn, unknown keys first.
	sort.SliceStable(v.errs, func(i, j int) bool { return v.errs[i].(*Error).Line < v.errs[j].(*Error).Line })
	return c, errors.Join(v.errs...)
}

func (c *Config) build(f *file, v *validator) {
	c.Server = f.Server.build(v, c)
	c.Log = f.Log.build(v)
	c.RRL = f.RRL.build(v)
	c.Keys = buildKeys(f.TSIG, v, c) // before zones: their update rules name keys
	c.Zones = buildZones(f.Zones, v, c)
	c.Checks = buildChecks(f.Checks, v, c)
	c.Maps = buildMaps(f.Maps, v, c)
	c.Pools = buildPools(f.Pools, f.Checks, v, c)
	c.Cluster = buildCluster(f.Cluster, v, c)
}

// decodeError places an error of the TOML decoder in the file.
func decodeError(path string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Error{File: path, Line: pe.Position.Line, Msg: pe.Message}
	}
	// Type mismatches come as plain errors with the line in the text.
	if m := tomlLineError.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: path, Line: line, Msg: m[2] + ": " + m[3]}
	}
	return &Error{File: path, Msg: err.Error()}
}

var tomlLineError = regexp.MustCompile(`^toml: line (\d+) \(last key "(.*?)"\): (.*)$`)

// Line returns the line of the key at path ("zone[0].file",
// "pool[2].members[1]"), or of its nearest written ancestor, or 0. The file
// is scanned for lines only on the first call: a valid config of ten
// thousand pools is not scanned twice on every reload.
func (c *Config) Line(path string) int { return c.keys.line(path) }

// Path resolves p relative to the config file's folder.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// validator collects errors with their lines.
type validator struct {
	file string
	keys *lazyKeys
	errs []error
}

// errorf records a problem with the key at path ("pool[1].ttl").
func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: v.keys.line(path), Msg: path + ": " + fmt.Sprintf(format, args...)})
}

// unknownKeys reports keys nothing decoded, with a hint for near misses.
func (v *validator) unknownKeys(md toml.MetaData) {
	seen := map[string]int{}
	for _, k := range md.Undecoded() {
		if len(k) == 2 && (k[0] == "check" || k[0] == "tsig") {
			continue // the [check.NAME] or [tsig.NAME] table itself
		}
		if k[0] == "map" && (len(k) == 2 || len(k) == 3 && (k[2] == "locations" || k[2] == "nets" || k[2] == "coordinates")) {
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
		v.errs = append(v.errs, &Error{File: v.file, Line: line, Msg: msg})
	}
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

// sortedKeys returns the keys of m in order, so that errors come in a
// stable order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
