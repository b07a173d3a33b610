package cluster

import (
	"math"
	"net/netip"
	"testing"
)

// votes builds a state where self and each peer report up/down (or nothing,
// or not probed yet) for key "k".
func TestQuorum(t *testing.T) {
	const (
		up = iota
		down
		unprobed
		none
	)
	tests := []struct {
		name     string
		q        Quorum
		self     int
		peers    []int
		dead     []bool // peers that are not live
		want     bool
		wantVote int
	}{
		{"alone up", QuorumMajority, up, nil, nil, true, 1},
		{"alone down", QuorumMajority, down, nil, nil, false, 1},
		{"majority 2 of 3", QuorumMajority, down, []int{up, up}, nil, true, 3},
		{"majority 1 of 3", QuorumMajority, up, []int{down, down}, nil, false, 3},
		{"majority 1 of 2 is not more than half", QuorumMajority, up, []int{down}, nil, false, 2},
		{"majority ignores the dead", QuorumMajority, up, []int{down, down}, []bool{false, true}, false, 2},
		{"majority: dead peer's down vote gone", QuorumMajority, up, []int{up, down}, []bool{false, true}, true, 2},
		{"unprobed peers do not vote", QuorumMajority, up, []int{unprobed, unprobed}, nil, true, 1},
		{"peer without the target does not vote", QuorumMajority, down, []int{none, up}, nil, false, 2},
		{"any 1 of 3", QuorumAny, down, []int{down, up}, nil, true, 3},
		{"any 0 of 3", QuorumAny, down, []int{down, down}, nil, false, 3},
		{"all 3 of 3", QuorumAll, up, []int{up, up}, nil, true, 3},
		{"all 2 of 3", QuorumAll, up, []int{up, down}, nil, false, 3},
		{"nobody probed: own initial state", QuorumAll, unprobed, []int{unprobed}, nil, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newState("self", 1, tt.q)
			entry := func(v int) (Entry, bool) {
				switch v {
				case up:
					return Entry{Key: "k", Up: true, Probed: true, ChangeAt: 100}, true
				case down:
					return Entry{Key: "k", Probed: true, ChangeAt: 100}, true
				case unprobed:
					return Entry{Key: "k", Up: true, ChangeAt: 100}, true
				}
				return Entry{}, false
			}
			own, _ := entry(tt.self)
			s.setLocal([]Entry{own}, 1, false)
			for i, p := range tt.peers {
				name := string(rune('a' + i))
				m := viewMsg{Origin: name, Boot: 1}
				if e, ok := entry(p); ok {
					e.Stamp = 1
					m.Entries = []Entry{e}
				}
				s.applyView(&m)
				s.setLive(name, tt.dead == nil || !tt.dead[i])
			}
			got := s.compute("k")
			if got.Up != tt.want || got.Voters != tt.wantVote {
				t.Fatalf("compute = %+v, want up=%v voters=%d", got, tt.want, tt.wantVote)
			}
			if s.merged["k"] != got {
				t.Fatalf("merged = %+v, compute = %+v: the owner was not told", s.merged["k"], got)
			}
		})
	}
}

func TestStateChanges(t *testing.T) {
	s := newState("self", 1, QuorumMajority)
	_, ch := s.setLocal([]Entry{{Key: "k", Up: true, Probed: true, ChangeAt: 50}}, 10, false)
	if len(ch) != 1 || !s.merged["k"].Up || s.merged["k"].PeersChangeAt != math.MaxInt64 {
		t.Fatalf("first local entry: changed %v, merged %+v", ch, s.merged["k"])
	}
	send, ch := s.setLocal([]Entry{{Key: "k", Up: true, Probed: true, ChangeAt: 50}}, 20, false)
	if len(send) != 0 || len(ch) != 0 {
		t.Fatalf("same entry again: send %v changed %v", send, ch)
	}
	send, _ = s.setLocal([]Entry{{Key: "k", Up: true, Probed: true, ChangeAt: 50}}, 20, true)
	if len(send) != 1 || send[0].Stamp != 10 {
		t.Fatalf("full send = %+v, want the entry with its first stamp", send)
	}
	// Peers a and b see it down: with them live, majority says down.
	for _, n := range []string{"a", "b"} {
		s.applyView(&viewMsg{Origin: n, Boot: 5, Entries: []Entry{{Key: "k", Probed: true, ChangeAt: 30, Stamp: 7}}})
	}
	if ch := s.applyView(&viewMsg{Origin: "c", Boot: 5, Entries: []Entry{{Key: "k", Probed: true, Stamp: 7}}}); len(ch) != 0 {
		t.Fatalf("a view from a peer not live changed %v", ch)
	}
	if ch := s.setLive("a", true); len(ch) != 1 || s.merged["k"].Up {
		t.Fatalf("1 up of 2 is not more than half: changed %v (merged %+v)", ch, s.merged["k"])
	}
	if ch := s.setLive("b", true); len(ch) != 1 || s.merged["k"].Up || s.merged["k"].Voters != 3 || s.merged["k"].PeersChangeAt != 30 {
		t.Fatalf("b live: changed %v, merged %+v", ch, s.merged["k"])
	}
	// An older entry from a is ignored; a newer one counts.
	if ch := s.applyView(&viewMsg{Origin: "a", Boot: 5, Entries: []Entry{{Key: "k", Up: true, Probed: true, Stamp: 6}}}); len(ch) != 0 {
		t.Fatalf("older stamp applied: %v", ch)
	}
	if ch := s.applyView(&viewMsg{Origin: "a", Boot: 5, Entries: []Entry{{Key: "k", Up: true, Probed: true, ChangeAt: 40, Stamp: 8}}}); len(ch) != 1 || s.merged["k"].UpVotes != 2 {
		t.Fatalf("newer stamp: changed %v merged %+v", ch, s.merged["k"])
	}
	// a restarts: its view from before is forgotten even though stamps are older.
	if ch := s.applyView(&viewMsg{Origin: "a", Boot: 6}); len(ch) != 1 || s.merged["k"].UpVotes != 1 {
		t.Fatalf("a restarted: changed %v merged %+v", ch, s.merged["k"])
	}
	if ch := s.applyView(&viewMsg{Origin: "a", Boot: 5, Entries: []Entry{{Key: "k", Up: true, Probed: true, Stamp: 99}}}); len(ch) != 0 {
		t.Fatalf("message from a's former life applied: %v", ch)
	}
	// A key we do not have is not judged.
	if ch := s.applyView(&viewMsg{Origin: "b", Boot: 5, Entries: []Entry{{Key: "other", Probed: true, Stamp: 9}}}); len(ch) != 0 {
		t.Fatalf("foreign key judged: %v", ch)
	}
}

func TestOverrideLaterWins(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	s := newState("self", 1, QuorumMajority)
	tests := []struct {
		o    Override
		kept bool
	}{
		{Override{Pool: "p.", Addr: a, State: 1, Since: 10, Origin: "x"}, true},
		{Override{Pool: "p.", Addr: a, State: 0, Since: 9, Origin: "y"}, false},
		{Override{Pool: "p.", Addr: a, State: 0, Since: 11, Origin: "y"}, true},
		{Override{Pool: "p.", Addr: a, State: 0, Since: 11, Origin: "y"}, false}, // the same again
		{Override{Pool: "p.", Addr: a, State: 2, Since: 11, Origin: "a"}, true},  // a tie: the higher state, on every instance
		{Override{Pool: "q.", Addr: a, State: 1, Since: 1, Origin: "x"}, true},   // another member
	}
	for i, tt := range tests {
		if got := s.setOverride(tt.o); got != tt.kept {
			t.Fatalf("%d: setOverride(%+v) = %v, want %v", i, tt.o, got, tt.kept)
		}
	}
	if l := s.overrideList(); len(l) != 2 || l[0].State != 2 {
		t.Fatalf("overrides = %+v", l)
	}
}

// TestForwardedViewNotWhole: a peer's view relayed in a push/pull may lack
// entries; it must not delete them.
func TestForwardedViewNotWhole(t *testing.T) {
	relay := newState("ns1", 1, QuorumMajority)
	relay.setLocal([]Entry{{Key: "k", Probed: true}}, 1, false)
	relay.applyView(&viewMsg{Origin: "ns3", Boot: 3}) // ns3's heartbeat, its entry lost
	relay.setLive("ns3", true)
	st := relay.fullState()
	for _, v := range st.Views {
		if v.Full != (v.Origin == "ns1") {
			t.Fatalf("view of %s sent with Full=%v", v.Origin, v.Full)
		}
	}
	s := newState("ns2", 2, QuorumMajority)
	s.setLocal([]Entry{{Key: "k", Up: true, Probed: true}}, 1, false)
	s.applyView(&viewMsg{Origin: "ns3", Boot: 3, Entries: []Entry{{Key: "k", Up: true, Probed: true, Stamp: 5}}})
	s.setLive("ns3", true)
	for i := range st.Views {
		s.applyView(&st.Views[i])
	}
	if _, ok := s.views["ns3"].entries["k"]; !ok {
		t.Fatal("a relayed view deleted ns3's entry")
	}
}
