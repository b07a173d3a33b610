package dnslb

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/dnslb/geo"
	"github.com/dnslb/dnslb/health"
)

// ParseClient reads the argument of -locate: an address (a resolver's,
// without ECS) or a subnet (as a resolver would send it in ECS).
func ParseClient(s string) (addr netip.Addr, prefix int, err error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return addr, 0, fmt.Errorf("%q is not an address or a subnet: write e.g. 81.2.69.160 or 81.2.69.0/24", s)
		}
		return p.Masked().Addr().Unmap(), p.Bits(), nil
	}
	addr, err = netip.ParseAddr(s)
	if err != nil {
		return addr, 0, fmt.Errorf("%q is not an address or a subnet: write e.g. 81.2.69.160 or 81.2.69.0/24", s)
	}
	return addr.Unmap(), -1, nil
}

// Locate prints, for every geo pool of the config at path, where the
// database puts the client, the datacenter list and the rule, network and
// ECS scope it comes from, and what the pool would serve now: members'
// health is probed first (each check rise or fall times, whichever is
// more), and overrides are read from the state file.
func Locate(ctx context.Context, path, who string, w io.Writer) error {
	addr, prefix, err := ParseClient(who)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	states := newMemberStates()
	if _, err := states.read(cfg.Server.StateFile); err != nil { // a damaged file's problems are -check's to report
		return err
	}
	prober := health.NewProber(health.Options{})
	snap, err := buildSnapshot(cfg, states, prober, generations{prober, states}, 2)
	if err != nil {
		return err
	}
	probeSettled(ctx, prober)
	c := client{addr: addr, prefix: prefix}
	now := time.Now().UnixNano()
	found := false
	for _, p := range snap.pools {
		if p.cfg.Policy != config.Geo {
			continue
		}
		found = true
		m := p.cfg.Map.Geo
		fmt.Fprintf(w, "pool %s (map %s, within %s, min_healthy %d)\n", p.name, p.cfg.Map.Name, p.cfg.Within, p.cfg.MinHealthy)
		loc, err := m.Locate(addr)
		if err != nil {
			return err
		}
		if v4, space, ok := geo.Embedded(addr); ok {
			fmt.Fprintf(w, "  embeds:      %s (%s: located by its IPv4 address)\n", v4, space)
		}
		switch {
		case loc.Location != nil:
			fmt.Fprintf(w, "  location:    %s (database network %s)\n", loc.Location, loc.DBNet)
		case p.cfg.Map.DB != "":
			fmt.Fprintf(w, "  location:    not in the database\n")
		}
		list, scope := m.Lookup(addr)
		if prefix == 0 {
			list, scope = m.DefaultList(), 0
			loc.Rule = "default (ECS source prefix 0)"
		}
		fmt.Fprintf(w, "  rule:        %s\n", loc.Rule)
		fmt.Fprintf(w, "  datacenters: %s\n", strings.Join(listNames(m, list), " "))
		fmt.Fprintf(w, "  network:     %s - %s, ECS scope /%d\n", loc.First, loc.Last, scope)
		for _, f := range p.families {
			if f == nil {
				continue
			}
			v := f.currentView(now)
			var state []string
			for _, d := range f.geo.lists[list] {
				state = append(state, fmt.Sprintf("%s %d/%d", f.geo.names[d], v.dcEligible[d], len(f.geo.members[d])))
			}
			sel := f.selectMembers(make([]int, 0, len(f.members)), c, now)
			served := make([]string, len(sel.members))
			for k, i := range sel.members {
				served[k] = sel.fam.members[i].addr.String()
			}
			from := ""
			switch {
			case len(sel.members) == 0:
				from = "nothing (when_all_down = none)"
			case sel.fam != f:
				from = "pool " + sel.fam.pool.name + " (when_all_down)"
			default:
				from = f.geo.names[f.geo.dcOf[sel.members[0]]]
			}
			fmt.Fprintf(w, "  %-5s        eligible: %s; serves %s: %s\n", dns.TypeToString[f.qtype], strings.Join(state, ", "), from, strings.Join(served, " "))
		}
	}
	if !found {
		return fmt.Errorf("%s has no pool of policy \"geo\"", path)
	}
	return nil
}

func listNames(m *geo.Map, list int) []string {
	var out []string
	for _, i := range m.Lists()[list] {
		out = append(out, m.Datacenters()[i])
	}
	return out
}

// probeSettled probes every target until its state could have reached
// rise or fall, all targets at once.
func probeSettled(ctx context.Context, p *health.Prober) {
	var wg sync.WaitGroup
	for _, t := range p.Targets() {
		c := t.Check()
		n := max(c.Rise, c.Fall)
		wg.Go(func() {
			for range n {
				p.CheckNow(ctx, t)
			}
		})
	}
	wg.Wait()
}
