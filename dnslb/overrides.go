package dnslb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/zones"
)

// Operator overrides of a member's health.
const (
	overrideNone  uint32 = iota // the health check decides
	overrideDrain               // never served, still probed
	overrideUp                  // served whatever the check says
	overrideDown                // never served
)

var overrideNames = []string{"none", "drain", "up", "down"}

func parseOverride(s string) (uint32, error) {
	for i, n := range overrideNames {
		if s == n {
			return uint32(i), nil
		}
	}
	if s == "auto" || s == "" {
		return overrideNone, nil
	}
	return 0, fmt.Errorf("override %q: use drain, up, down or none", s)
}

// memberState is what dnslb keeps of a member across reloads: the
// operator's override and the count of answers that listed it first.
type memberState struct {
	override atomic.Uint32
	since    atomic.Int64 // unix nanos of the last override change
	served   atomic.Uint64
}

type memberKey struct {
	pool string
	addr netip.Addr
}

// memberStates holds every memberState and persists overrides to the state
// file, so that they survive restarts.
type memberStates struct {
	mu   sync.Mutex // guards m and writes of the file
	m    map[memberKey]*memberState
	gen  atomic.Uint64 // +1 on every override change
	file string        // "" = not persisted
}

func newMemberStates() *memberStates {
	return &memberStates{m: make(map[memberKey]*memberState)}
}

func (s *memberStates) get(pool string, addr netip.Addr) *memberState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(memberKey{pool, addr})
}

func (s *memberStates) getLocked(k memberKey) *memberState {
	st := s.m[k]
	if st == nil {
		st = &memberState{}
		s.m[k] = st
	}
	return st
}

// stateFile is the JSON kept in [server] state_file.
type stateFile struct {
	Version   int             `json:"version"`
	Overrides []stateOverride `json:"overrides"`
}

type stateOverride struct {
	Pool     string    `json:"pool"`
	Address  string    `json:"address"`
	Override string    `json:"override"`
	Since    time.Time `json:"since,omitzero"` // absent when unknown
}

// maxStateBytes bounds the state file (an override takes about 150 bytes).
const maxStateBytes = 64 << 20

// storedOverride is one usable entry of a state file.
type storedOverride struct {
	key      memberKey
	override uint32
	since    int64 // unix ns; 0 = unknown
}

// parseState reads a state file's entries. problems lists what could not
// be used (the whole file when it is not our JSON); entries is the rest.
// IPv4-mapped IPv6 addresses (::ffff:192.0.2.1) are taken as the IPv4
// address, as the API and the config take them.
func parseState(b []byte) (entries []storedOverride, problems []string) {
	var f stateFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, []string{fmt.Sprintf("not a dnslb state file: %v", err)}
	}
	if f.Version != 1 {
		return nil, []string{fmt.Sprintf("version %d: this dnslb reads version 1", f.Version)}
	}
	for i, o := range f.Overrides {
		at := fmt.Sprintf("overrides[%d]", i)
		if _, ok := dns.IsDomainName(o.Pool); !ok || o.Pool == "" {
			problems = append(problems, fmt.Sprintf("%s: pool %q is not a domain name", at, o.Pool))
			continue
		}
		a, err := netip.ParseAddr(o.Address)
		if err != nil || a.Zone() != "" {
			problems = append(problems, fmt.Sprintf("%s: pool %s: address %q is not an IP address", at, o.Pool, o.Address))
			continue
		}
		ov, err := parseOverride(o.Override)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: pool %s member %s: %v", at, o.Pool, a, err))
			continue
		}
		var since int64
		// UnixNano is defined from 1678 to 2262; anything else is unknown.
		if y := o.Since.Year(); !o.Since.IsZero() && y > 1970 && y < 2262 {
			since = o.Since.UnixNano()
		}
		entries = append(entries, storedOverride{key: memberKey{dns.CanonicalName(o.Pool), a.Unmap()}, override: ov, since: since})
	}
	return entries, problems
}

// load reads overrides from path (absent file: none) and remembers path for
// later writes. Overrides are operator state, not config: a file that cannot
// be used whole does not stop the server. What can be read is kept, the file
// is moved aside as PATH.corrupt-TIMESTAMP for the operator, a clean one
// is written in its place, and the problems are returned to be logged
// loudly. Only a file that cannot be read at all (permissions) is an error.
func (s *memberStates) load(path string, now time.Time) (problems []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.file = path
	if problems, err = s.readLocked(path); err != nil || path == "" {
		return problems, err
	}
	if len(problems) > 0 {
		aside := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102T150405Z"))
		if err := os.Rename(path, aside); err != nil {
			problems = append(problems, fmt.Sprintf("could not keep it aside (%v): it stays as it is until the next override replaces it", err))
		} else {
			problems = append(problems, "the file is kept as "+aside)
			if err := s.writeLocked(); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	s.gen.Add(1)
	return problems, nil
}

// read sets the overrides the state file at path holds and returns its
// problems, changing nothing on disk (-locate inspects, it does not repair).
func (s *memberStates) read(path string) (problems []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readLocked(path)
}

func (s *memberStates) readLocked(path string) (problems []string, err error) {
	if path == "" {
		return nil, nil
	}
	b, err := zones.ReadFile(path, maxStateBytes)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case errors.Is(err, zones.ErrNotRegular), errors.Is(err, zones.ErrTooLarge):
		return []string{err.Error()}, nil
	case err != nil:
		return nil, fmt.Errorf("state file: %w", err)
	}
	entries, problems := parseState(b)
	for _, e := range entries {
		st := s.getLocked(e.key)
		st.override.Store(e.override)
		st.since.Store(e.since)
	}
	return problems, nil
}

// prune forgets the members keep does not hold (pools or members removed
// from the config) and returns those that had an override, which is
// dropped from the state file too.
func (s *memberStates) prune(keep map[memberKey]bool) (dropped []memberKey, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, st := range s.m {
		if keep[k] {
			continue
		}
		delete(s.m, k)
		if st.override.Load() != overrideNone {
			dropped = append(dropped, k)
		}
	}
	if len(dropped) == 0 {
		return nil, nil
	}
	sort.Slice(dropped, func(i, j int) bool {
		return dropped[i].pool < dropped[j].pool || dropped[i].pool == dropped[j].pool && dropped[i].addr.Less(dropped[j].addr)
	})
	s.gen.Add(1)
	return dropped, s.writeLocked()
}

// setOverride changes a member's override and persists it. When the state
// file cannot be written the change is undone and the error returned: an
// override the next restart would forget is not accepted.
func (s *memberStates) setOverride(pool string, addr netip.Addr, ov uint32, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.getLocked(memberKey{pool, addr})
	old, oldSince := st.override.Load(), st.since.Load()
	st.override.Store(ov)
	st.since.Store(now.UnixNano())
	if err := s.writeLocked(); err != nil {
		st.override.Store(old)
		st.since.Store(oldSince)
		return err
	}
	s.gen.Add(1)
	return nil
}

// writeLocked writes the state file atomically: a temporary file in the
// same folder, synced, then renamed over the old one.
func (s *memberStates) writeLocked() error {
	if s.file == "" {
		return nil
	}
	f := stateFile{Version: 1, Overrides: []stateOverride{}}
	for k, st := range s.m {
		// A cleared override is kept with its time too: in a cluster it
		// must win over an older one another instance restores.
		if ov := st.override.Load(); ov != overrideNone || st.since.Load() != 0 {
			o := stateOverride{Pool: k.pool, Address: k.addr.String(), Override: overrideNames[ov]}
			if ns := st.since.Load(); ns != 0 {
				o.Since = time.Unix(0, ns).UTC()
			}
			f.Overrides = append(f.Overrides, o)
		}
	}
	sort.Slice(f.Overrides, func(i, j int) bool {
		a, b := f.Overrides[i], f.Overrides[j]
		return a.Pool < b.Pool || a.Pool == b.Pool && a.Address < b.Address
	})
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.file), ".dnslb-state-*")
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.file, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err = tmp.Write(append(b, '\n')); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.file)
	}
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.file, err)
	}
	return nil
}

type overrideEntry struct {
	pool     string
	addr     netip.Addr
	override uint32
	since    int64
}

// list returns every override set, for the cluster.
func (s *memberStates) list() []overrideEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []overrideEntry
	for k, st := range s.m {
		if ov := st.override.Load(); ov != overrideNone || st.since.Load() != 0 {
			out = append(out, overrideEntry{k.pool, k.addr, ov, st.since.Load()})
		}
	}
	return out
}

// CheckState reports what the state file of the config at cfgPath holds
// that dnslb would set aside or drop at start-up, for -check to print as
// warnings: they do not stop the server, but the operator should know. A
// config that does not load reports nothing here (Check reports it).
func CheckState(cfgPath string) []string {
	cfg, err := config.Load(cfgPath)
	if err != nil || cfg.Server.StateFile == "" {
		return nil
	}
	path := cfg.Server.StateFile
	b, err := zones.ReadFile(path, maxStateBytes)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return []string{fmt.Sprintf("state file %s: %v; dnslb would start without its overrides and keep it as %s.corrupt-TIMESTAMP", path, err, path)}
	}
	entries, problems := parseState(b)
	var out []string
	for _, p := range problems {
		out = append(out, fmt.Sprintf("state file %s: %s; dnslb would start without it and keep the file as %s.corrupt-TIMESTAMP", path, p, path))
	}
	members := map[memberKey]bool{}
	for _, pc := range cfg.Pools {
		for _, mc := range pc.Members {
			members[memberKey{pc.Name, mc.Addr}] = true
		}
	}
	for _, e := range entries {
		if !members[e.key] && e.override != overrideNone {
			out = append(out, fmt.Sprintf("state file %s: override %s of pool %s member %s: no such member in the config; dnslb would drop it", path, overrideNames[e.override], e.key.pool, e.key.addr))
		}
	}
	return out
}
