package cluster

import "testing"

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
