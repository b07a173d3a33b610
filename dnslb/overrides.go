package dnslb

import (
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
	Since    time.Time `json:"since"`
}

// load reads overrides from path (absent file: none) and remembers path for
// later writes.
func (s *memberStates) load(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.file = path
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	for _, o := range f.Overrides {
		a, err := netip.ParseAddr(o.Address)
		if err != nil {
			return fmt.Errorf("state file %s: pool %s: %w", path, o.Pool, err)
		}
		ov, err := parseOverride(o.Override)
		if err != nil {
			return fmt.Errorf("state file %s: pool %s member %s: %w", path, o.Pool, a, err)
		}
		st := s.getLocked(memberKey{o.Pool, a})
		st.override.Store(ov)
		st.since.Store(o.Since.UnixNano())
	}
	s.gen.Add(1)
	return nil
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
			f.Overrides = append(f.Overrides, stateOverride{Pool: k.pool, Address: k.addr.String(), Override: overrideNames[ov], Since: time.Unix(0, st.since.Load()).UTC()})
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
