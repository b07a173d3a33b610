package dnslb

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

const hashPool = "h.lb.test."

var hashMembers = []string{"192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"}

// subnetClients returns n resolvers, each in its own /24.
func subnetClients(n int) []client {
	out := make([]client, n)
	for i := range out {
		out[i] = client{addr: netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 53}), prefix: -1}
	}
	return out
}

// firstOf maps each client to the first member it is served.
func firstOf(f *family, clients []client) []string {
	out := make([]string, len(clients))
	for i, c := range clients {
		out[i] = selAddrs(f.selectMembers(nil, c, 0))[0]
	}
	return out
}

// TestPolicyHashConsistent: over 10,000 client subnets and 5 members each
// member gets about a fifth; removing one moves exactly the clients it had,
// none other; adding it back restores the original mapping.
func TestPolicyHashConsistent(t *testing.T) {
	for _, answers := range []int{1, 2, 0} {
		t.Run(fmt.Sprintf("answers %d", answers), func(t *testing.T) {
			fx := newPoolFixture(t, fmt.Sprintf("[[pool]]\nname = %q\npolicy = \"hash\"\nanswers = %d\n%s", hashPool, answers, memberList(hashMembers...)), nil)
			f := fx.family(hashPool, dns.TypeA)
			clients := subnetClients(10000)
			before := firstOf(f, clients)
			share := map[string]int{}
			for _, m := range before {
				share[m]++
			}
			for _, m := range hashMembers {
				if got := float64(share[m]) / float64(len(clients)); math.Abs(got-0.2) > 0.02 {
					t.Errorf("%s serves %.1f%% of clients, want 20%% ± 2%%", m, 100*got)
				}
			}
			for _, gone := range hashMembers {
				fx.override(hashPool, overrideDown, gone)
				after := firstOf(f, clients)
				moved := 0
				for i := range clients {
					switch {
					case before[i] == gone:
						moved++
						if after[i] == gone {
							t.Fatalf("client %v still served %s, which is down", clients[i].addr, gone)
						}
					case after[i] != before[i]:
						t.Fatalf("client %v moved from %s to %s though %s went down", clients[i].addr, before[i], after[i], gone)
					}
				}
				if share := float64(moved) / float64(len(clients)); share < 0.15 || share > 0.25 {
					t.Errorf("removing %s moved %.1f%% of clients, want about a fifth", gone, 100*share)
				}
				fx.override(hashPool, overrideNone, gone)
				if back := firstOf(f, clients); !slices.Equal(back, before) {
					t.Fatalf("after %s came back the mapping differs", gone)
				}
			}
		})
	}
}

// TestPolicyHashSecondChoice: with answers 2, a client keeps its second
// member too when an unrelated member leaves, and its second becomes its
// first when its first leaves.
func TestPolicyHashSecondChoice(t *testing.T) {
	fx := newPoolFixture(t, fmt.Sprintf("[[pool]]\nname = %q\npolicy = \"hash\"\nanswers = 2\n%s", hashPool, memberList(hashMembers...)), nil)
	f := fx.family(hashPool, dns.TypeA)
	clients := subnetClients(2000)
	before := make([][]string, len(clients))
	for i, c := range clients {
		before[i] = selAddrs(f.selectMembers(nil, c, 0))
		if len(before[i]) != 2 || before[i][0] == before[i][1] {
			t.Fatalf("client %v: %v, want two members", c.addr, before[i])
		}
	}
	fx.override(hashPool, overrideDrain, "192.0.2.12")
	for i, c := range clients {
		got := selAddrs(f.selectMembers(nil, c, 0))
		switch {
		case before[i][0] == "192.0.2.12":
			if got[0] != before[i][1] {
				t.Fatalf("client %v: %v after its first left, want its second (%s) first", c.addr, got, before[i][1])
			}
		case before[i][1] == "192.0.2.12":
			if got[0] != before[i][0] {
				t.Fatalf("client %v: %v after its second left, want the same first (%s)", c.addr, got, before[i][0])
			}
		default:
			if !slices.Equal(got, before[i]) {
				t.Fatalf("client %v: %v, was %v", c.addr, got, before[i])
			}
		}
	}
}

// TestPolicyHashClientKey: the client is its subnet: addresses that share
// the prefix share the answer; an ECS source prefix shorter than the
// pool's is honoured and the scope is the bits used; without ECS an IPv4
// resolver on a dual-stack socket counts as IPv4.
func TestPolicyHashClientKey(t *testing.T) {
	fx := newPoolFixture(t, fmt.Sprintf("[[pool]]\nname = %q\npolicy = \"hash\"\nanswers = 1\n%s", hashPool,
		memberList(append(hashMembers, "2001:db8::10", "2001:db8::11", "2001:db8::12")...)), nil)
	f := fx.family(hashPool, dns.TypeA)
	c := func(a string, prefix int) client { return client{addr: netip.MustParseAddr(a), prefix: prefix} }
	tests := []struct {
		name   string
		a, b   client
		same   bool  // same key
		scopeA uint8 // the scope a's answer carries
	}{
		{"same /24", c("198.51.100.1", -1), c("198.51.100.254", -1), true, 24},
		{"next /24", c("198.51.100.1", -1), c("198.51.101.1", -1), false, 24},
		{"mapped resolver address is IPv4", c("::ffff:198.51.100.1", -1), c("198.51.100.9", -1), true, 24},
		{"ECS /24", c("198.51.100.0", 24), c("198.51.100.7", -1), true, 24},
		{"ECS /32 uses the pool's 24", c("198.51.100.77", 32), c("198.51.100.0", 24), true, 24},
		{"ECS /16 is honoured", c("198.51.0.0", 16), c("198.51.200.0", 16), true, 16},
		{"ECS /16 is not the /24", c("198.51.100.0", 16), c("198.51.100.0", 24), false, 16},
		{"ECS /0", c("0.0.0.0", 0), c("203.0.113.0", 0), true, 0},
		{"same /56", c("2001:db8:1:ab00::1", -1), c("2001:db8:1:abff:ffff::2", -1), true, 56},
		{"next /56", c("2001:db8:1:ab00::1", -1), c("2001:db8:1:ac00::1", -1), false, 56},
		{"ECS v6 /48", c("2001:db8:1::", 48), c("2001:db8:1:ff00::", 48), true, 48},
		{"ECS v6 /64 uses 56", c("2001:db8:1:ab01::", 64), c("2001:db8:1:ab00::", 56), true, 56},
		{"ECS v6 mapped keeps family 2 bits", c("::ffff:198.51.100.0", 120), c("198.51.100.0", 24), false, 56},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ka, sa := f.clientKey(tc.a)
			kb, _ := f.clientKey(tc.b)
			if (ka == kb) != tc.same {
				t.Errorf("keys of %v/%d and %v/%d equal: %v, want %v", tc.a.addr, tc.a.prefix, tc.b.addr, tc.b.prefix, ka == kb, tc.same)
			}
			if sa != tc.scopeA {
				t.Errorf("scope %d, want %d", sa, tc.scopeA)
			}
			sel := f.selectMembers(nil, tc.a, 0)
			if sel.scope != tc.scopeA {
				t.Errorf("selection scope %d, want %d", sel.scope, tc.scopeA)
			}
			if tc.same && !slices.Equal(selAddrs(sel), selAddrs(f.selectMembers(nil, tc.b, 0))) {
				t.Error("same key, different answers")
			}
		})
	}
	// The AAAA family keys clients the same way.
	f6 := fx.family(hashPool, dns.TypeAAAA)
	if _, s := f6.clientKey(c("2001:db8:1:ab00::1", -1)); s != 56 {
		t.Errorf("AAAA family scope %d, want 56", s)
	}
}

// TestPolicyHashPrefixes: hash_prefix_v4 and hash_prefix_v6 set how much of
// the client address counts.
func TestPolicyHashPrefixes(t *testing.T) {
	fx := newPoolFixture(t, fmt.Sprintf("[[pool]]\nname = %q\npolicy = \"hash\"\nanswers = 1\nhash_prefix_v4 = 32\nhash_prefix_v6 = 64\n%s", hashPool, memberList(hashMembers...)), nil)
	f := fx.family(hashPool, dns.TypeA)
	k1, s1 := f.clientKey(client{addr: netip.MustParseAddr("198.51.100.1"), prefix: -1})
	k2, _ := f.clientKey(client{addr: netip.MustParseAddr("198.51.100.2"), prefix: -1})
	if k1 == k2 || s1 != 32 {
		t.Errorf("/32: keys equal %v, scope %d", k1 == k2, s1)
	}
	k1, s1 = f.clientKey(client{addr: netip.MustParseAddr("2001:db8:0:1:ffff::1"), prefix: -1})
	k2, _ = f.clientKey(client{addr: netip.MustParseAddr("2001:db8:0:1::2"), prefix: -1})
	if k1 != k2 || s1 != 64 {
		t.Errorf("/64: keys equal %v, scope %d", k1 == k2, s1)
	}
}

// TestPolicyHashWeights: weights scale a member's share of clients; weight
// 0 members serve only the clients of no weighted member, spread by hash
// among themselves.
func TestPolicyHashWeights(t *testing.T) {
	fx := newPoolFixture(t, fmt.Sprintf("[[pool]]\nname = %q\npolicy = \"hash\"\nanswers = 1\n%s", hashPool,
		memberList("192.0.2.10 weight=3", "192.0.2.11 weight=1", "192.0.2.20 weight=0", "192.0.2.21 weight=0")), nil)
	f := fx.family(hashPool, dns.TypeA)
	clients := subnetClients(10000)
	share := map[string]int{}
	for _, m := range firstOf(f, clients) {
		share[m]++
	}
	if got := float64(share["192.0.2.10"]) / 10000; math.Abs(got-0.75) > 0.02 {
		t.Errorf("weight 3 of 4 serves %.1f%% of clients, want 75%% ± 2%%", 100*got)
	}
	if share["192.0.2.20"]+share["192.0.2.21"] > 0 {
		t.Errorf("weight 0 members first for %d clients while weighted members serve", share["192.0.2.20"]+share["192.0.2.21"])
	}
	fx.override(hashPool, overrideDown, "192.0.2.10", "192.0.2.11")
	clear(share)
	for _, m := range firstOf(f, clients) {
		share[m]++
	}
	if got := float64(share["192.0.2.20"]) / 10000; math.Abs(got-0.5) > 0.02 {
		t.Errorf("weight 0 members alone: %v, want an even split", share)
	}
}

// TestPolicyHashOrder: a hash answer is the eligible members by descending
// score, cut to answers, for short answers (scores kept on the stack) and
// long ones (scores recomputed) alike, with weights or without.
func TestPolicyHashOrder(t *testing.T) {
	for _, tc := range []struct {
		members, answers int
		weighted         bool
	}{{5, 0, false}, {5, 3, true}, {64, 0, true}, {70, 0, false}, {70, 65, true}, {70, 64, false}, {100, 2, true}} {
		t.Run(fmt.Sprintf("%d members, answers %d, weighted %v", tc.members, tc.answers, tc.weighted), func(t *testing.T) {
			var specs []string
			for i := range tc.members {
				w := 1
				if tc.weighted {
					w = i % 4 // weight 0 included
				}
				specs = append(specs, fmt.Sprintf("10.0.%d.%d weight=%d", i/200, i%200+1, w))
			}
			fx := newPoolFixture(t, fmt.Sprintf("[[pool]]\nname = %q\npolicy = \"hash\"\nanswers = %d\n%s", hashPool, tc.answers, memberList(specs...)), nil)
			fx.override(hashPool, overrideDown, "10.0.0.7")
			f := fx.family(hashPool, dns.TypeA)
			v := f.currentView(0)
			for _, c := range subnetClients(200) {
				key, _ := f.clientKey(c)
				want := slices.Clone(v.eligible)
				slices.SortStableFunc(want, func(a, b int) int { return -cmpFloat(f.score(a, key), f.score(b, key)) })
				if tc.answers > 0 {
					want = want[:min(tc.answers, len(want))]
				}
				dst := []int{-1} // order appends after what dst holds
				got, _ := hashed{}.order(dst, f, v, c)
				if got[0] != -1 || !slices.Equal(got[1:], want) {
					t.Fatalf("client %v: %v, want %v", c.addr, got[1:], want)
				}
			}
		})
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
