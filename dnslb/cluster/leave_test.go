package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// TestClusterLeave: an instance stopped on purpose is reported as left, not
// dead.
func TestClusterLeave(t *testing.T) {
	a := startNode(t, "ns1", "127.0.1.7:0", nil, "majority", "d")
	b := startNode(t, "ns2", "127.0.1.8:0", []string{a.c.Addr()}, "majority", "d")
	waitFor(t, "joined", func() bool { return a.peerState("ns2") == PeerAlive })
	b.stop()
	waitFor(t, "ns2 left", func() bool { return a.peerState("ns2") != PeerAlive })
	if s := a.peerState("ns2"); s != PeerLeft {
		t.Fatalf("ns2 is %s, want %s\n%s", s, PeerLeft, a.logs.String())
	}
}

// TestClusterSilentPeerSuspect: a peer memberlist still counts alive but
// from which no view came for a while is reported suspect, and alive again
// when it speaks.
func TestClusterSilentPeerSuspect(t *testing.T) {
	a := startNode(t, "ns1", "127.0.1.7:0", nil, "majority", "d")
	startNode(t, "ns2", "127.0.1.8:0", []string{a.c.Addr()}, "majority", "d")
	waitFor(t, "joined", func() bool { return a.peerState("ns2") == PeerAlive })
	// ns1's clock jumps ahead: ns2 has been silent for long.
	a.c.mu.Lock()
	a.c.checkSilentLocked(time.Now().Add(time.Minute))
	a.c.mu.Unlock()
	if s := a.peerState("ns2"); s != PeerSuspect {
		t.Fatalf("ns2 is %s, want suspect", s)
	}
	if !strings.Contains(a.logs.String(), "cluster peer silent") {
		t.Error("no warning of the silence")
	}
	// Its next view brings it back.
	waitFor(t, "ns2 alive again", func() bool {
		a.c.mu.Lock()
		a.c.checkSilentLocked(time.Now())
		a.c.mu.Unlock()
		return a.peerState("ns2") == PeerAlive
	})
}

// TestClusterSilentAfterClose: memberlist's suspicion timers outlive its
// Shutdown and still report a peer dead, up to seconds later; after Close
// that changes and logs nothing (a test's logger panics once its test has
// ended, as TestClusterOverrides in the dnslb package did).
func TestClusterSilentAfterClose(t *testing.T) {
	a := startNode(t, "ns1", "127.0.1.7:0", nil, "majority", "d")
	b := startNode(t, "ns2", "127.0.1.8:0", []string{a.c.Addr()}, "majority", "d")
	waitFor(t, "joined", func() bool { return a.peerState("ns2") == PeerAlive })
	a.stop()
	before := a.logs.String()
	ev := (*events)(a.c)
	ev.NotifyLeave(&memberlist.Node{Name: "ns2"})
	ev.NotifyJoin(&memberlist.Node{Name: "ns3"})
	if after := a.logs.String(); after != before {
		t.Errorf("events after Close logged:\n%s", strings.TrimPrefix(after, before))
	}
	if s := a.peerState("ns2"); s != PeerAlive {
		t.Errorf("an event after Close made ns2 %s", s)
	}
	b.stop()
}
