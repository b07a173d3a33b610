package dnslb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/dnslb/cookie"
	"github.com/dnslb/dnslb/dnslb/dnssec"
	"github.com/dnslb/dnslb/dnslb/geo"
	"github.com/dnslb/dnslb/dnslb/tsig"
	"github.com/dnslb/dnslb/health"
	"github.com/dnslb/dnslb/zones"
)

// snapshot is everything a query reads: zones, pools, and the answers
// computed so far. It is built aside and published whole; queries load it
// once and never lock.
type snapshot struct {
	cfg        *config.Config
	zones      *zones.Set
	pools      []*pool
	poolByName map[string]*pool
	cache      *answerCache
	built      time.Time
	queryLog   *queryLog // nil unless [log] queries
	rrl        *rrl      // nil unless [rrl] responses_per_second
	udpSize    uint16    // [server] udp_size: the largest UDP response, our EDNS size
	cacheSize  int
	keyring    *tsig.Keyring
	updates    map[string]*zoneUpdates   // by origin: zones that take RFC 2136 updates
	warnings   []string                  // for the log once the snapshot is published
	signers    map[string]*dnssec.Signer // zone origin → signer, for zones with [zone.dnssec]
	cookies    *cookie.Secrets           // [server] cookie_secret_file, or the process's random secret
	// requireCookie: [server] require_cookie — over UDP, only a valid
	// server cookie gets an answer.
	requireCookie bool
	// udpCoalesce: [server] udp_coalesce — how long a busy UDP worker lets
	// queries gather before its next read.
	udpCoalesce time.Duration
	// synth holds each zone's wire pieces for synthesized answers, made
	// with the zones: a zone not in it (swapped in later) is answered by
	// the general path, never from stale pieces.
	synth map[*zones.Zone]*zoneSynth
	// geoMaps are the maps geo pools use, each once.
	geoMaps []*geo.Map
}

// loadGCPercent is the GC target while zones load (GOGC is 100 otherwise).
const loadGCPercent = 50

// targetSyncer is the part of the health prober a snapshot build needs.
type targetSyncer interface {
	Sync(specs []health.Spec) []*health.Target
}

// buildSnapshot loads zone files and builds pools for cfg. Health targets
// are attached only when everything else is valid, so that a config that
// fails leaves the prober as it was.
func buildSnapshot(cfg *config.Config, states *memberStates, prober targetSyncer, hs healthSource, cacheSize int) (*snapshot, error) {
	return buildSnapshotContext(context.Background(), cfg, states, prober, hs, cacheSize)
}

// buildSnapshotContext is buildSnapshot, stopped with an error once ctx is
// done.
func buildSnapshotContext(ctx context.Context, cfg *config.Config, states *memberStates, prober targetSyncer, hs healthSource, cacheSize int) (*snapshot, error) {
	s := &snapshot{cfg: cfg, poolByName: map[string]*pool{}, built: time.Now(), cacheSize: cacheSize, keyring: cfg.Keys, updates: map[string]*zoneUpdates{}}
	// Pools first: zones need to know which names are dynamic.
	zonePools := map[int][]int{}
	for i, pc := range cfg.Pools {
		p := &pool{name: pc.Name, cfg: pc}
		s.pools = append(s.pools, p)
		s.poolByName[p.name] = p
		zonePools[pc.Zone] = append(zonePools[pc.Zone], i)
		for j := range pc.Members {
			mc := &pc.Members[j]
			fi := 0
			if mc.Addr.Is6() {
				fi = 1
			}
			f := p.families[fi]
			if f == nil {
				f = &family{
					pool: p, qtype: [2]uint16{dns.TypeA, dns.TypeAAAA}[fi], policy: newPolicy(pc),
					answers: pc.Answers, ttl: pc.TTL, minTTL: pc.MinTTL, minHealthy: pc.MinHealthy, whenAllDown: pc.WhenAllDown,
					prefix4: pc.HashPrefix4, prefix6: pc.HashPrefix6, health: hs, equalWeights: true,
					fastReturn: pc.FastReturn,
				}
				f.draw.seed(rand.Uint64())
				p.families[fi] = f
			}
			m := newMember(mc, states.get(p.name, mc.Addr), nil)
			if len(f.members) > 0 && m.weight != f.members[0].weight {
				f.equalWeights = false
			}
			f.members = append(f.members, m)
		}
	}
	for _, p := range s.pools {
		if p.cfg.Policy == config.Geo {
			s.buildGeo(p)
		}
	}
	for _, p := range s.pools {
		if fb := s.poolByName[p.cfg.Fallback]; fb != nil {
			for fi, f := range p.families {
				if f != nil {
					f.fallback = fb.families[fi]
				}
			}
		}
	}
	// Parsing zone files makes garbage several times the size of the zones
	// it loads (miekg/dns's parser). The zone data itself holds few
	// pointers, so collecting more often costs little time and keeps the
	// peak memory of a start or reload closer to what the zones need.
	defer debug.SetGCPercent(debug.SetGCPercent(loadGCPercent))
	var errs []error
	var built []*zones.Zone
	for i := range cfg.Zones {
		z, err := s.buildZone(ctx, cfg, i, zonePools[i])
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break // the other zones would only say the same
			}
			continue
		}
		built = append(built, z)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	set, err := zones.NewSet(built...)
	if err != nil {
		return nil, err
	}
	s.zones = set
	s.synth = make(map[*zones.Zone]*zoneSynth, len(built))
	for _, z := range built {
		zs, err := buildSynth(z)
		if err != nil {
			return nil, err
		}
		s.synth[z] = zs
	}
	s.attachTargets(prober)
	s.cache = newAnswerCache(cacheSize)
	s.rrl = newRRL(cfg.RRL)
	s.udpSize = uint16(cfg.Server.UDPSize)
	s.udpCoalesce = cfg.Server.UDPCoalesce
	return s, nil
}

// buildZone builds zone i of cfg with the pools it holds. Config lines are
// looked up only when the zone has errors: it is then built again with
// them, so that a valid config of many pools is not scanned for lines.
func (s *snapshot) buildZone(ctx context.Context, cfg *config.Config, i int, pools []int) (*zones.Zone, error) {
	z, err := s.buildZoneAt(ctx, cfg, i, pools, func(string) int { return 0 })
	if err != nil && ctx.Err() == nil {
		_, err = s.buildZoneAt(ctx, cfg, i, pools, cfg.Line)
	}
	return z, err
}

func (s *snapshot) buildZoneAt(ctx context.Context, cfg *config.Config, i int, pools []int, line func(string) int) (*zones.Zone, error) {
	zc := &cfg.Zones[i]
	b := zones.NewBuilder(zc.Origin)
	b.Limit(ctx, zones.Limits{MaxBytes: cfg.Server.ZoneMaxBytes, MaxRecords: cfg.Server.ZoneMaxRecords})
	if zc.File != "" {
		b.DeclaredAt(zones.Pos{File: cfg.File, Line: line(zc.At + ".file")})
		b.LoadFile(zc.File)
	}
	b.DeclaredAt(zones.Pos{File: cfg.File, Line: line(zc.At + ".origin")})
	for j, rec := range zc.Records {
		b.AddText(rec, zones.Pos{File: cfg.File, Line: line(fmt.Sprintf("%s.records[%d]", zc.At, j))})
	}
	for _, pi := range pools {
		p := s.pools[pi]
		at := zones.Pos{File: cfg.File, Line: line(p.cfg.At + ".name")}
		for _, f := range p.families {
			if f != nil {
				b.AddDynamic(p.name, f.qtype, pi, at)
			}
		}
	}
	z, err := b.Build()
	if err != nil || zc.Journal == "" {
		return z, err
	}
	return s.replayJournal(z, zc)
}

// attachTargets registers every (check, address) with the prober, which
// keeps the state of those it already had, and links members to them.
func (s *snapshot) attachTargets(prober targetSyncer) {
	var specs []health.Spec
	var members []*member
	for _, p := range s.pools {
		for _, f := range p.families {
			if f == nil {
				continue
			}
			for _, m := range f.members {
				if m.check != nil {
					specs = append(specs, health.Spec{Check: m.check, Addr: m.addr})
					members = append(members, m)
				}
			}
		}
	}
	if prober == nil {
		return
	}
	targets := prober.Sync(specs)
	for i, m := range members {
		m.target = targets[i]
	}
}

// buildGeo splits each family of a geo pool by datacenter.
func (s *snapshot) buildGeo(p *pool) {
	for fi, f := range p.families {
		if f == nil {
			continue
		}
		var dcs []string // in f.members order
		for _, mc := range p.cfg.Members {
			if mc.Addr.Is6() == (fi == 1) {
				dcs = append(dcs, mc.Datacenter)
			}
		}
		f.geo = newGeoSet(f, p.cfg.Map.Geo, dcs, p.cfg)
		if !slices.Contains(s.geoMaps, p.cfg.Map.Geo) {
			s.geoMaps = append(s.geoMaps, p.cfg.Map.Geo)
		}
		f.policy = newGeoPolicy(policyOf(p.cfg.Within, p.cfg))
	}
}
