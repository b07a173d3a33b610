package config

import (
	"runtime"

	"github.com/dnslb/dnslb/dnslb/cluster"
)

// [cluster]: its TOML shape and its checks belong to the cluster package
// (cluster.Config, Validate); here it is decoded, checked with the file's
// lines, and handed over.

func buildCluster(t *cluster.Config, v *validator, c *Config) *cluster.Config {
	if t == nil {
		return nil
	}
	for _, e := range t.Validate(c.Dir) {
		v.errorf("cluster."+e.Key, "%s", e.Msg)
	}
	return t
}

// Host is what differs between the hosts of a cluster that share one file,
// given as flags: each set field replaces the file's value.
type Host struct {
	Listen      []string // [server] listen
	HTTP        string   // [server] http
	StateFile   string   // [server] state_file
	ClusterName string   // [cluster] name
	ClusterBind string   // [cluster] bind
}

func (h Host) apply(f *file) {
	if len(h.Listen) > 0 {
		f.Server.Listen = h.Listen
	}
	if h.HTTP != "" {
		f.Server.HTTP = &h.HTTP
	}
	if h.StateFile != "" {
		f.Server.StateFile = h.StateFile
	}
	if h.ClusterName == "" && h.ClusterBind == "" {
		return
	}
	if f.Cluster == nil {
		f.Cluster = new(cluster.Config)
	}
	if h.ClusterName != "" {
		f.Cluster.Name = h.ClusterName
	}
	if h.ClusterBind != "" {
		f.Cluster.Bind = h.ClusterBind
	}
}

// wildcardListen: the server can serve a wildcard address correctly here,
// replying from each query's destination (packet info, dnslb/udp_linux.go).
const wildcardListen = runtime.GOOS == "linux"
