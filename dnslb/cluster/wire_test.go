package cluster

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

func sampleMessages() map[string][]byte {
	v := viewMsg{Origin: "ns1", Boot: 1700000000000000000, Full: true, Entries: []Entry{
		{Key: "web@192.0.2.10", Up: true, Probed: true, ChangeAt: 1700000005000000000, Stamp: 1700000001000000000},
		{Key: "web@2001:db8::10", Probed: true, ChangeAt: -1, Stamp: 2},
		{Key: "dns@192.0.2.53"},
	}}
	ovs := []Override{
		{Pool: "www.lb.example.", Addr: netip.MustParseAddr("192.0.2.10"), State: 1, Since: 1700000002000000000, Origin: "ns2"},
		{Pool: "www.lb.example.", Addr: netip.MustParseAddr("2001:db8::10"), State: 0, Since: 5, Origin: "ns1"},
	}
	return map[string][]byte{
		"view":      encodeView(&v),
		"heartbeat": encodeView(&viewMsg{Origin: "ns3", Boot: 9}),
		"leave":     encodeLeave("ns2"),
		"overrides": encodeOverrides(ovs),
		"state":     encodeState(&stateMsg{Views: []viewMsg{v, {Origin: "ns2", Boot: 3}}, Overrides: ovs}),
	}
}

func TestWireRoundTrip(t *testing.T) {
	v := viewMsg{Origin: "ns1", Boot: 42, Full: true, Entries: []Entry{
		{Key: "a@192.0.2.1", Up: true, Probed: true, ChangeAt: 77, Stamp: 88},
		{Key: "b@::1", Probed: true, ChangeAt: -5, Stamp: 1},
	}}
	ovs := []Override{{Pool: "p.", Addr: netip.MustParseAddr("::1"), State: 3, Since: 9, Origin: "x"}}
	tests := []struct {
		name string
		b    []byte
		want message
	}{
		{"view", encodeView(&v), message{view: &v}},
		{"overrides", encodeOverrides(ovs), message{overrides: ovs}},
		{"leave", encodeLeave("ns1"), message{leave: "ns1"}},
		{"state", encodeState(&stateMsg{Views: []viewMsg{v}, Overrides: ovs}), message{state: &stateMsg{Views: []viewMsg{v}, Overrides: ovs}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decode(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decode = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWireRefuses(t *testing.T) {
	good := encodeView(&viewMsg{Origin: "ns1", Boot: 1, Entries: []Entry{{Key: "k", Up: true}}})
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"other version", append([]byte{2}, good[1:]...)},
		{"unknown kind", []byte{wireVersion, 9}},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"huge count", append(header(kindOverrides).b, 0xff, 0xff, 0xff, 0x7f)},
		{"bad flags", encodeBadFlags()},
		{"bad address", append(header(kindOverrides).b, 1, 1, 'p', 3, 1, 2, 3, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := decode(tt.b); err == nil {
				t.Fatalf("decode accepted %x as %+v", tt.b, m)
			}
		})
	}
}

func encodeBadFlags() []byte {
	e := header(kindView)
	e.str("ns1")
	e.varint(1)
	e.byte1(0)
	e.uvarint(1)
	e.str("k")
	e.byte1(4)
	e.varint(0)
	e.varint(0)
	return e.b
}

// FuzzClusterMessage: whatever arrives, decode returns or errs, and what it
// accepts encodes back to the same bytes.
func FuzzClusterMessage(f *testing.F) {
	testutil.AddSeeds(f, filepath.Join("..", "..", "testdata", "fuzz", "FuzzClusterMessage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
		if err != nil {
			return
		}
		var again []byte
		switch {
		case m.view != nil:
			again = encodeView(m.view)
		case m.state != nil:
			again = encodeState(m.state)
		case m.leave != "":
			again = encodeLeave(m.leave)
		default:
			again = encodeOverrides(m.overrides)
		}
		m2, err := decode(again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoded message decodes to %+v, %v; want %+v", m2, err, m)
		}
	})
}

// TestFuzzSeedsCurrent keeps the seed files equal to what the encoder
// writes today.
func TestFuzzSeedsCurrent(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "fuzz", "FuzzClusterMessage")
	for name, b := range sampleMessages() {
		p := filepath.Join(dir, name)
		if os.Getenv("DNSLB_WRITE_SEEDS") != "" {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != string(b) {
			t.Errorf("seed %s is stale or missing (%v): rerun with DNSLB_WRITE_SEEDS=1", p, err)
		}
	}
}
