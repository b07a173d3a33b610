package config

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"
)

// AdminEndpoint reads, from the config at cfgPath, where the HTTP side
// listens and the admin token file (resolved as the server resolves it; ""
// when none), for clients such as `dnslb ctl`. Only [server] is read, and
// the token file is not: a user who may not read the token may still ask
// for the status.
func AdminEndpoint(cfgPath string) (httpAddr, tokenFile string, err error) {
	var c struct {
		Server struct {
			HTTP           *string `toml:"http"`
			AdminTokenFile string  `toml:"admin_token_file"`
		} `toml:"server"`
	}
	src, err := os.ReadFile(cfgPath)
	if err != nil {
		return "", "", fmt.Errorf("config: %w", err)
	}
	if _, err := toml.Decode(string(src), &c); err != nil {
		return "", "", fmt.Errorf("config %s: %w", cfgPath, err)
	}
	httpAddr = defaultHTTP
	if c.Server.HTTP != nil {
		httpAddr = *c.Server.HTTP
	}
	if httpAddr == "" {
		return "", "", fmt.Errorf("%s: server.http is \"\": the HTTP side is off, so there is nothing to talk to", cfgPath)
	}
	if tokenFile = c.Server.AdminTokenFile; tokenFile != "" && !filepath.IsAbs(tokenFile) {
		tokenFile = filepath.Join(filepath.Dir(cfgPath), tokenFile)
	}
	return httpAddr, tokenFile, nil
}
