package dnslb

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/health"
)

// pool is one [[pool]] of a snapshot: the name, and one family of members per
// address type. It is immutable but for the policies' counters and the
// cached views, which are safe for concurrent use.
type pool struct {
	name     string // canonical
	cfg      *config.Pool
	families [2]*family // A, AAAA; nil when the pool has no member of that type
}

func (p *pool) family(qtype uint16) *family {
	if qtype == dns.TypeAAAA {
		return p.families[1]
	}
	return p.families[0]
}

// whenAllDown values.
const (
	allDownServeAll  = config.AllDownServeAll
	allDownServeNone = config.AllDownServeNone
	allDownFallback  = config.AllDownFallback
)

// family is the members of a pool that answer one type (A or AAAA).
type family struct {
	pool         *pool
	qtype        uint16
	members      []*member
	policy       policy
	answers      int    // 0 = every selected member
	ttl, minTTL  uint32 // configured bounds of the adaptive TTL
	minHealthy   int
	whenAllDown  config.AllDown
	fallback     *family // when_all_down = "pool:<name>"; nil when that pool lacks this type
	prefix4      int     // hash: client prefix lengths
	prefix6      int
	equalWeights bool    // hash: every member has the same weight
	fastReturn   bool    // a member coming back shortens the TTL (fast_return)
	geo          *geoSet // geo: the map and the datacenters

	health healthSource
	turn   atomic.Uint64 // rotation counter of round_robin, weighted, failover
	draw   drawSource    // randomness of fastest and least_load
	view   atomic.Pointer[view]
	mu     sync.Mutex // serializes view rebuilds; queries never wait on it for long
}

// member is one address of a family, with its precomputed answer record.
type member struct {
	addr     netip.Addr
	weight   int
	priority int
	check    *health.Check  // nil: no check, always healthy
	target   *health.Target // set when the check is attached to the prober
	state    *memberState   // survives reloads: override and counters
	seed     uint64         // hash: the member's stable hash
	rr       [26]byte       // TYPE CLASS TTL RDLENGTH RDATA, owner excluded
	rrLen    int
}

// eligible reports whether the member may be served: an override wins over
// the health check.
func (m *member) eligible() bool {
	switch m.state.override.Load() {
	case overrideDrain, overrideDown:
		return false
	case overrideUp:
		return true
	}
	return m.target == nil || m.target.Up()
}

// healthSource tells families when eligibility may have changed.
type healthSource interface {
	// Generation changes whenever any member's eligibility may have changed.
	Generation() uint64
}

// view is a family's members as one health generation sees them.
type view struct {
	gen      uint64
	built    int64 // unix nanos, for policies whose order follows live figures
	eligible []int // indices into members, in configured order
	down     []int // members not eligible, in configured order (every member when allDown)
	allDown  bool  // no member eligible: eligible holds what when_all_down serves

	// What the policy's prepare computed; each field belongs to one policy.
	sorted     []int   // fastest, least_load: eligible members by ascending figure, unknown ones last
	cumShares  []int   // fastest, least_load: cumulative shares of sorted for the draw, ending at drawScale
	byPriority []int   // failover: the members to serve, best priority first
	groupEnds  []int   // failover: where each priority group ends in byPriority
	takingPart []int   // weighted: the members that share answers (weight > 0, or all when none has)
	sequence   []int   // weighted: the smooth round-robin cycle, as indices into takingPart
	dcEligible []int   // geo: eligible members of each datacenter
	dcServes   []geoDC // geo: per map list, the datacenter that serves it
}

// geoDC is the datacenter that serves a map list: its family and view,
// side by side so that a geo answer reads one entry. For the usual inner
// policies it also holds what their order reads from the view (weighted:
// sequence and takingPart; round_robin: eligible as part), so that the
// answer does not load the view first.
type geoDC struct {
	fam  *family
	view *view
	seq  []int
	part []int
}

// refreshEvery bounds how stale the live figures of fastest and least_load
// orders may get.
const refreshEvery = time.Second

// currentView returns the view for the current health generation, building
// it when the generation moved. Only rebuilds take the mutex.
func (f *family) currentView(now int64) *view {
	gen := f.health.Generation()
	v := f.view.Load()
	if v != nil && v.gen == gen && (!f.policy.live() || now-v.built < int64(refreshEvery)) {
		return v
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if v = f.view.Load(); v != nil && v.gen == gen && (!f.policy.live() || now-v.built < int64(refreshEvery)) {
		return v
	}
	v = &view{gen: gen, built: now}
	for i, m := range f.members {
		if m.eligible() {
			v.eligible = append(v.eligible, i)
		} else {
			v.down = append(v.down, i)
		}
	}
	if len(v.eligible) == 0 {
		v.allDown = true
		if f.whenAllDown == allDownServeAll {
			for i := range f.members {
				v.eligible = append(v.eligible, i)
			}
		}
	}
	f.policy.prepare(f, v)
	f.view.Store(v)
	return v
}

// selection is what a family chose for one answer.
type selection struct {
	fam     *family // the family whose members are listed (a fallback's, maybe)
	members []int   // indices into fam.members, in answer order
	ttl     uint32
	scope   uint8 // ECS scope prefix length: bits of the client address the choice used
}

// client is who asks, for the hash policy: the EDNS Client Subnet when the
// query carried one, else the resolver's address.
type client struct {
	addr   netip.Addr
	prefix int        // ECS source prefix length; -1 without ECS
	ecs    *ecsOption // the ECS option addr comes from, or nil
}

// selectMembers picks the members to answer with. dst is reused storage.
func (f *family) selectMembers(dst []int, c client, now int64) selection {
	fam := f
	earliest := int64(-1) // of the families passed over: when one could come back
	for hops := 0; ; hops++ {
		v := fam.currentView(now)
		if !v.allDown || fam.whenAllDown == allDownServeAll {
			s := selection{fam: fam}
			s.members, s.scope = fam.policy.order(dst[:0], fam, v, c)
			if fam.answers > 0 && len(s.members) > fam.answers {
				s.members = s.members[:fam.answers]
			}
			s.ttl = fam.adaptiveTTL(v, s.members, earliest, now)
			return s
		}
		if fam.whenAllDown != allDownFallback || fam.fallback == nil || hops > 8 {
			return selection{fam: fam, ttl: fam.minTTL}
		}
		// A stopgap: the answer changes as soon as a member of this family
		// comes back.
		earliest = fam.earliestChange(v.down, earliest)
		fam = fam.fallback
	}
}

// adaptiveTTL is the configured TTL, shortened so that the answer expires no
// later than the earliest moment a listed member could be withdrawn: an
// answer is wrong when it lists a member that went down, not when it leaves
// out one that came back, which waits for the TTL. Returns shorten it too
// when the pool asks (fast_return) or the answer is a stopgap (every member
// down, served anyway). earliest is a moment already known (-1: none), e.g.
// when a pool that fell back to this one could recover.
func (f *family) adaptiveTTL(v *view, listed []int, earliest, now int64) uint32 {
	earliest = f.earliestChange(listed, earliest)
	if f.fastReturn || v.allDown {
		earliest = f.earliestChange(v.down, earliest)
	}
	ttl := f.ttl
	if earliest >= 0 {
		left := (earliest - now) / int64(time.Second) // whole seconds, rounded down
		if left < int64(ttl) {
			ttl = uint32(max(left, 0))
		}
	}
	return max(ttl, f.minTTL)
}

// earliestChange returns the earlier of earliest (-1: none) and the first
// moment the health check of one of members could flip. Members without a
// check, or under an operator's override, have no change to foresee.
func (f *family) earliestChange(members []int, earliest int64) int64 {
	for _, i := range members {
		m := f.members[i]
		if m.target == nil || m.state.override.Load() != overrideNone {
			continue
		}
		if at := m.target.ChangeAt().UnixNano(); earliest < 0 || at < earliest {
			earliest = at
		}
	}
	return earliest
}

// newMember precomputes the member's answer record.
func newMember(mc *config.Member, st *memberState, target *health.Target) *member {
	m := &member{addr: mc.Addr, weight: mc.Weight, priority: mc.Priority, check: mc.Check, target: target, state: st, seed: memberSeed(mc.Addr)}
	if m.addr.Is4() {
		a := m.addr.As4()
		binary.BigEndian.PutUint16(m.rr[0:], dns.TypeA)
		binary.BigEndian.PutUint16(m.rr[8:], 4)
		copy(m.rr[10:], a[:])
		m.rrLen = 14
	} else {
		a := m.addr.As16()
		binary.BigEndian.PutUint16(m.rr[0:], dns.TypeAAAA)
		binary.BigEndian.PutUint16(m.rr[8:], 16)
		copy(m.rr[10:], a[:])
		m.rrLen = 26
	}
	binary.BigEndian.PutUint16(m.rr[2:], dns.ClassINET)
	return m
}
