package cluster

import (
	"math"
	"net/netip"
	"sort"
)

// Quorum says how many live instances must see a target up for the
// cluster to serve it.
type Quorum uint8

const (
	QuorumMajority Quorum = iota // more than half of the instances that probed it
	QuorumAny                    // at least one
	QuorumAll                    // every one
)

var quorumNames = [...]string{"majority", "any", "all"}

func (q Quorum) String() string { return quorumNames[q] }

// ParseQuorum reads a health_quorum value.
func ParseQuorum(s string) (Quorum, bool) {
	for i, n := range quorumNames {
		if s == n {
			return Quorum(i), true
		}
	}
	return 0, false
}

// Shared is the cluster's judgement of one target.
type Shared struct {
	Up bool
	// PeersChangeAt is the earliest moment (unix ns) a live peer's view of
	// the target could flip, and with it the shared state; math.MaxInt64
	// when no peer has a view. The owner takes the earlier of it and its own.
	PeersChangeAt   int64
	Voters, UpVotes int // live instances that probed the target, and those that see it up
}

// view is what one instance reported.
type view struct {
	boot    int64
	entries map[string]Entry
}

type ovKey struct {
	pool string
	addr netip.Addr
}

// state is the merged knowledge of one instance: every instance's view,
// which of them are live, and the overrides. It does no I/O and knows no
// clock; Cluster serializes access.
type state struct {
	self      string
	quorum    Quorum
	views     map[string]*view // by instance name, self included
	live      map[string]bool  // peers memberlist reports alive or suspect, self excluded
	overrides map[ovKey]Override
	merged    map[string]Shared // last result handed to the owner, by key
}

func newState(self string, boot int64, q Quorum) *state {
	s := &state{self: self, quorum: q, views: map[string]*view{}, live: map[string]bool{},
		overrides: map[ovKey]Override{}, merged: map[string]Shared{}}
	s.views[self] = &view{boot: boot, entries: map[string]Entry{}}
	return s
}

// setLocal replaces this instance's view with entries (stamping those that
// changed with now) and returns the entries that changed, to send, and the
// keys whose shared state changed. With all, every current entry is
// returned, for a full send.
func (s *state) setLocal(entries []Entry, now int64, all bool) (send []Entry, changed []string) {
	v := s.views[s.self]
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		seen[e.Key] = true
		old, ok := v.entries[e.Key]
		if ok && old.Up == e.Up && old.Probed == e.Probed && old.ChangeAt == e.ChangeAt {
			if all {
				send = append(send, old)
			}
			continue
		}
		e.Stamp = now
		v.entries[e.Key] = e
		send = append(send, e)
		changed = s.remerge(e.Key, changed)
	}
	for k := range v.entries {
		if !seen[k] {
			delete(v.entries, k)
			changed = s.remerge(k, changed)
		}
	}
	for k := range s.merged { // a key only peers know, dropped from our config
		if !seen[k] {
			delete(s.merged, k)
		}
	}
	return send, changed
}

// applyView merges a view from another instance and returns the keys whose
// shared state changed.
func (s *state) applyView(m *viewMsg) (changed []string) {
	if m.Origin == s.self || m.Origin == "" {
		return nil
	}
	v := s.views[m.Origin]
	switch {
	case v == nil || m.Boot > v.boot:
		// First word from it, or it restarted: forget its former life.
		old := v
		v = &view{boot: m.Boot, entries: map[string]Entry{}}
		s.views[m.Origin] = v
		if old != nil {
			for k := range old.entries {
				changed = s.remerge(k, changed)
			}
		}
	case m.Boot < v.boot:
		return nil // from before it restarted
	}
	if m.Full {
		in := make(map[string]bool, len(m.Entries))
		for _, e := range m.Entries {
			in[e.Key] = true
		}
		for k := range v.entries {
			if !in[k] {
				delete(v.entries, k)
				changed = s.remerge(k, changed)
			}
		}
	}
	for _, e := range m.Entries {
		if old, ok := v.entries[e.Key]; ok && old.Stamp >= e.Stamp {
			continue
		}
		v.entries[e.Key] = e
		changed = s.remerge(e.Key, changed)
	}
	return changed
}

// setLive records that a peer became live or stopped being live and
// returns the keys whose shared state changed.
func (s *state) setLive(name string, live bool) (changed []string) {
	if name == s.self || s.live[name] == live {
		return nil
	}
	if live {
		s.live[name] = true
	} else {
		delete(s.live, name)
	}
	if v := s.views[name]; v != nil {
		for k := range v.entries {
			changed = s.remerge(k, changed)
		}
	}
	return changed
}

// remerge recomputes key and appends it to changed when its result moved.
// Only keys this instance has in its own view are judged: the others are
// not in its config.
func (s *state) remerge(key string, changed []string) []string {
	if _, ok := s.views[s.self].entries[key]; !ok {
		return changed
	}
	sh := s.compute(key)
	if old, ok := s.merged[key]; ok && old == sh {
		return changed
	}
	s.merged[key] = sh
	for _, c := range changed {
		if c == key {
			return changed
		}
	}
	return append(changed, key)
}

// compute is the quorum of the live instances' views of key. Instances
// that have not probed it yet do not vote; when none has, this instance's
// own (initial) state stands.
func (s *state) compute(key string) Shared {
	own := s.views[s.self].entries[key]
	sh := Shared{PeersChangeAt: math.MaxInt64}
	vote := func(e Entry) {
		if e.Probed {
			sh.Voters++
			if e.Up {
				sh.UpVotes++
			}
		}
	}
	vote(own)
	for name := range s.live {
		v := s.views[name]
		if v == nil {
			continue
		}
		e, ok := v.entries[key]
		if !ok {
			continue
		}
		vote(e)
		sh.PeersChangeAt = min(sh.PeersChangeAt, e.ChangeAt)
	}
	switch {
	case sh.Voters == 0:
		sh.Up = own.Up
	case s.quorum == QuorumAny:
		sh.Up = sh.UpVotes >= 1
	case s.quorum == QuorumAll:
		sh.Up = sh.UpVotes == sh.Voters
	default:
		sh.Up = 2*sh.UpVotes > sh.Voters
	}
	return sh
}

// setOverride keeps o when it is newer than what is known for its member
// and reports whether it was kept.
func (s *state) setOverride(o Override) bool {
	k := ovKey{o.Pool, o.Addr}
	if old, ok := s.overrides[k]; ok && !o.newer(old) {
		return false
	}
	s.overrides[k] = o
	return true
}

// fullState is everything this instance knows, for a push/pull.
func (s *state) fullState() *stateMsg {
	m := &stateMsg{}
	names := make([]string, 0, len(s.views))
	for n := range s.views {
		if n == s.self || s.live[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		// Only this instance's own view is whole: another's, as known
		// here, may lack entries it never received, which must not delete
		// them where they did arrive.
		m.Views = append(m.Views, s.viewOf(n, n == s.self))
	}
	m.Overrides = s.overrideList()
	return m
}

func (s *state) viewOf(name string, full bool) viewMsg {
	v := s.views[name]
	m := viewMsg{Origin: name, Boot: v.boot, Full: full}
	for _, e := range v.entries {
		m.Entries = append(m.Entries, e)
	}
	sort.Slice(m.Entries, func(i, j int) bool { return m.Entries[i].Key < m.Entries[j].Key })
	return m
}

func (s *state) overrideList() []Override {
	out := make([]Override, 0, len(s.overrides))
	for _, o := range s.overrides {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Pool < b.Pool || a.Pool == b.Pool && a.Addr.Less(b.Addr)
	})
	return out
}
