package dnslb

import (
	"encoding/binary"
	"math"
	"net/netip"
)

// hashed keeps each client on the same members by rendezvous (highest
// random weight) hashing, equivalent to a consistent-hash ring with
// infinitely many virtual nodes: every member gets a score from a hash of
// (client subnet, member), and the highest scores are served. When a member
// goes down only the clients whose top choice it was move, each to its own
// next choice; when it comes back exactly those clients return. Weights
// scale the share of clients a member gets (weighted rendezvous hashing);
// members of weight 0 come after every weighted one, in their own hash order.
// The client is its EDNS Client Subnet when present, else the resolver's
// address, truncated to hash_prefix_v4 / hash_prefix_v6 bits.
type hashed struct{ static }

func (hashed) order(dst []int, f *family, v *view, c client) ([]int, uint8) {
	key, scope := f.clientKey(c)
	limit := len(v.eligible)
	if f.answers > 0 && f.answers < limit {
		limit = f.answers
	}
	if limit > maxScored {
		return hashOrderLong(dst, f, v, key, limit), scope
	}
	// Insertion into a top-limit list: members are few, answers fewer.
	// Each member is scored once (a weighted score costs a logarithm) and
	// the list's scores kept beside it, on the stack.
	var scores [maxScored]float64
	base := len(dst)
	for _, i := range v.eligible {
		s := f.score(i, key)
		n := len(dst) - base
		if n == limit && s <= scores[n-1] {
			continue
		}
		if n < limit {
			dst = append(dst, i)
			n++
		}
		j := n - 1
		for ; j > 0 && scores[j-1] < s; j-- {
			dst[base+j], scores[j] = dst[base+j-1], scores[j-1]
		}
		dst[base+j], scores[j] = i, s
	}
	return dst, scope
}

// maxScored bounds the answers whose scores order keeps on the stack.
const maxScored = 64

// hashOrderLong is order for answers longer than maxScored: the same
// insertion, scores recomputed instead of kept.
func hashOrderLong(dst []int, f *family, v *view, key uint64, limit int) []int {
	base := len(dst)
	for _, i := range v.eligible {
		s := f.score(i, key)
		n := len(dst) - base
		if n == limit && s <= f.score(dst[len(dst)-1], key) {
			continue
		}
		if n < limit {
			dst = append(dst, i)
		}
		j := len(dst) - 1
		for ; j > base && f.score(dst[j-1], key) < s; j-- {
			dst[j] = dst[j-1]
		}
		dst[j] = i
	}
	return dst
}

// clientKey hashes the client's subnet and returns the prefix length used,
// which is the ECS scope of the answer.
func (f *family) clientKey(c client) (uint64, uint8) {
	a := c.addr
	if c.prefix < 0 {
		// A resolver's IPv4 address as a dual-stack socket gives it. An ECS
		// address stays as sent: its source prefix counts in its family.
		a = a.Unmap()
	}
	bits := f.prefix6
	if a.Is4() {
		bits = f.prefix4
	}
	if c.prefix >= 0 && c.prefix < bits {
		bits = c.prefix
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return 0, 0
	}
	b := p.Addr().As16()
	h := mix64(binary.BigEndian.Uint64(b[:8]) ^ uint64(bits)<<56)
	h = mix64(h ^ binary.BigEndian.Uint64(b[8:]))
	return h, uint8(bits)
}

// score is member i's rendezvous weight for a client key: w / -ln(u) with u
// uniform in (0, 1). With equal weights that orders as u itself, so the
// logarithm is skipped. A member of weight 0 scores u - 1, below every
// weighted member, still spreading the clients among its kind.
func (f *family) score(i int, key uint64) float64 {
	m := f.members[i]
	u := (float64(mix64(key^m.seed)>>11) + 0.5) / (1 << 53)
	switch {
	case f.equalWeights:
		return u
	case m.weight == 0:
		return u - 1
	}
	return float64(m.weight) / -math.Log(u)
}

// memberSeed is a stable per-address hash, the same on every server so
// that several dnslb instances agree on each client's members.
func memberSeed(a netip.Addr) uint64 {
	b := a.As16()
	return mix64(mix64(binary.BigEndian.Uint64(b[:8])) ^ binary.BigEndian.Uint64(b[8:]))
}

// mix64 is the splitmix64 finalizer: a fast, well-distributed 64-bit mix.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
