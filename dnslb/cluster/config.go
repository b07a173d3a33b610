package cluster

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultPort is memberlist's usual gossip port, taken when bind or a peer
// names none.
const DefaultPort = 7946

// Config is [cluster]. Validate fills the defaults and the resolved fields.
type Config struct {
	Name         string   `toml:"name"`          // default the host name; unique in the cluster
	Bind         string   `toml:"bind"`          // required: IP:port for gossip, UDP and TCP; port default 7946
	Peers        []string `toml:"peers"`         // default none; host:port of other instances, any reachable one is enough to join
	KeyFile      string   `toml:"key_file"`      // AES-256 gossip key (32 bytes, base64); required unless bind is loopback
	HealthQuorum string   `toml:"health_quorum"` // default "majority"; "any" | "majority" | "all"

	bind   netip.AddrPort
	peers  []string
	key    []byte
	quorum Quorum
}

// FieldError is a problem with one key of [cluster].
type FieldError struct {
	Key string // e.g. "bind", "peers[1]"
	Msg string
}

func (e FieldError) Error() string { return e.Key + ": " + e.Msg }

// Validate applies defaults and checks every key; dir is the folder a
// relative key_file is read from. It returns every problem found.
func (c *Config) Validate(dir string) []FieldError {
	var errs []FieldError
	bad := func(key, format string, args ...any) {
		errs = append(errs, FieldError{key, fmt.Sprintf(format, args...)})
	}
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			bad("name", "the host name is unknown: set a name unique in the cluster, e.g. \"ns1\"")
		}
		c.Name = h
	}
	switch ap, err := hostPort(c.Bind); {
	case c.Bind == "":
		bad("bind", "required: this instance's gossip address, e.g. \"192.0.2.53:7946\"")
	case err != nil:
		bad("bind", "%q: %v", c.Bind, err)
	case ap.Addr().IsUnspecified():
		bad("bind", "%q: give the address peers reach this instance at, not a wildcard", c.Bind)
	default:
		c.bind = ap
	}
	c.peers = nil
	for i, p := range c.Peers {
		host, port, err := net.SplitHostPort(p)
		if err != nil {
			host, port = p, strconv.Itoa(DefaultPort)
			if strings.Count(p, ":") > 1 { // a bare IPv6 address
				host = strings.Trim(p, "[]")
			}
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || host == "" {
			bad(fmt.Sprintf("peers[%d]", i), "%q: write host:port, e.g. \"192.0.2.54:7946\"", p)
			continue
		}
		c.peers = append(c.peers, net.JoinHostPort(host, port))
	}
	if c.HealthQuorum == "" {
		c.HealthQuorum = "majority"
	}
	if q, ok := ParseQuorum(c.HealthQuorum); ok {
		c.quorum = q
	} else {
		bad("health_quorum", "%q: use \"any\", \"majority\" or \"all\"", c.HealthQuorum)
	}
	switch {
	case c.KeyFile != "":
		key, err := readKey(c.KeyFile, dir)
		if err != nil {
			bad("key_file", "%v", err)
		}
		c.key = key
	case c.bind.IsValid() && !c.bind.Addr().IsLoopback():
		bad("key_file", "required when bind is not a loopback address: the gossip carries overrides; make one with: head -c 32 /dev/urandom | base64")
	}
	return errs
}

// readKey reads a base64 AES-256 key.
func readKey(path, dir string) ([]byte, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	// A regular file, read no further than 4 KiB: a device or a FIFO named
	// by mistake must not hang or exhaust the server.
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%s: must hold 32 bytes in base64 (AES-256), e.g. from: head -c 32 /dev/urandom | base64", path)
	}
	return key, nil
}

func hostPort(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(a, DefaultPort), nil
	}
	return netip.AddrPort{}, fmt.Errorf("write an IP address and port, e.g. \"192.0.2.53:7946\"")
}

// BindAddr is the validated bind address.
func (c *Config) BindAddr() netip.AddrPort { return c.bind }

// Quorum is the validated health_quorum.
func (c *Config) Quorum() Quorum { return c.quorum }
