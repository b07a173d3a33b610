package dnslb

import (
	"fmt"
	"io"
	"strings"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/config"
	"github.com/dnslb/dnslb/dnslb/journal"
	"github.com/dnslb/dnslb/dnslb/tsig"
)

// KeygenText is what `dnslb -tsig-keygen NAME` prints: config lines, the
// secret, and how clients name the key.
func KeygenText(name, algorithm string) (string, error) {
	k, err := tsig.Keygen(name, algorithm, nil)
	if err != nil {
		return "", err
	}
	base := strings.TrimSuffix(k.Name, ".")
	return fmt.Sprintf(`# dnslb.toml
[tsig.%s]
algorithm   = %q
secret_file = "%s.key"

# %s.key (first line: the secret; keep it private)
%s

# clients: nsupdate -y %s:%s:%s
`, base, k.AlgorithmName(), base, base, k.Secret(), k.AlgorithmName(), base, k.Secret()), nil
}

// loadForCommand builds the config's snapshot without serving it.
func loadForCommand(cfgPath string) (*snapshot, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	return buildSnapshot(cfg, newMemberStates(), nil, nil, 2)
}

// DumpZone prints zone origin as dnslb serves it, the zone file with its
// journal replayed, in master-file form: `dnslb -dump-zone ORIGIN`. A
// pool's addresses depend on health, so a pooled name is a comment.
func DumpZone(cfgPath, origin string, w io.Writer) error {
	snap, err := loadForCommand(cfgPath)
	if err != nil {
		return err
	}
	origin = dns.CanonicalName(dns.Fqdn(origin))
	z := snap.zones.Zone(origin)
	if z == nil {
		return fmt.Errorf("zone %s is not in %s", origin, cfgPath)
	}
	for _, warn := range snap.warnings {
		fmt.Fprintf(w, "; warning: %s\n", warn)
	}
	fmt.Fprintf(w, "; zone %s as served, serial %d\n$ORIGIN %s\n", origin, z.SOA.Serial, origin)
	for _, name := range z.Names() {
		n := z.Node(name)
		for _, t := range n.Types() {
			for _, rr := range n.RRset(t) {
				fmt.Fprintln(w, rr.String())
			}
		}
		for _, d := range n.Dynamics() {
			fmt.Fprintf(w, "; %s %s: pool %s (healthy members, chosen per query)\n", name, dns.TypeToString[d.Type], snap.pools[d.ID].name)
		}
	}
	return nil
}

// ClearJournal removes the journal of zone origin and returns its path:
// `dnslb -clear-journal ORIGIN`. A running server keeps serving the
// updates it holds until it is reloaded.
func ClearJournal(cfgPath, origin string) (string, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return "", err
	}
	origin = dns.CanonicalName(dns.Fqdn(origin))
	for i := range cfg.Zones {
		zc := &cfg.Zones[i]
		if zc.Origin != origin {
			continue
		}
		if zc.Journal == "" {
			return "", fmt.Errorf("zone %s takes no updates: it has no journal", origin)
		}
		return zc.Journal, journal.Clear(zc.Journal)
	}
	return "", fmt.Errorf("zone %s is not in %s", origin, cfgPath)
}
