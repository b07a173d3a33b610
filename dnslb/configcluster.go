package dnslb

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/dnslb/dnslb/dnslb/cluster"
)

// HostSettings are what differs between the hosts of a cluster that share
// one config file. Set (by flags), each replaces the file's value.
type HostSettings struct {
	Listen      []string // [server] listen
	ClusterName string   // [cluster] name
	ClusterBind string   // [cluster] bind
	ProbeSource string   // the address health probes leave from; default the system's choice
	StateFile   string   // [server] state_file
	HTTP        string   // [server] http
}

func (h HostSettings) apply(c *Config) {
	if len(h.Listen) > 0 {
		c.Server.Listen = h.Listen
	}
	if h.HTTP != "" {
		c.Server.HTTP = &h.HTTP
	}
	if h.StateFile != "" {
		c.Server.StateFile = h.StateFile
	}
	if h.ClusterName == "" && h.ClusterBind == "" {
		return
	}
	if c.Cluster == nil {
		c.Cluster = new(clusterConfig)
	}
	if h.ClusterName != "" {
		c.Cluster.Name = h.ClusterName
	}
	if h.ClusterBind != "" {
		c.Cluster.Bind = h.ClusterBind
	}
}

// validateCluster checks [cluster]; the cluster package owns its keys.
func (c *Config) validateCluster(v *validator) {
	if c.Cluster == nil {
		return
	}
	for _, e := range c.Cluster.Validate(c.Dir) {
		v.errorf("cluster."+e.Key, "%s", e.Msg)
	}
}

// clusterDigest sums what every instance of a cluster should share: the
// config file and the zone files it names. Instances whose digests differ
// are told apart as drift. Per-host flags are not part of it.
func (c *Config) clusterDigest() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "config %s\n", c.Hash)
	for _, z := range c.Zones {
		if z.File == "" {
			continue
		}
		f, err := os.Open(c.path(z.File))
		if err != nil {
			return "", fmt.Errorf("cluster digest: %w", err)
		}
		fmt.Fprintf(h, "zone %s\n", z.Origin)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("cluster digest: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

type clusterConfig = cluster.Config
