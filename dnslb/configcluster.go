package dnslb

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/dnslb/dnslb/dnslb/config"
)

// clusterDigest sums what every instance of a cluster should share: the
// config file and the zone files it names. Instances whose digests differ
// are told apart as drift. Per-host flags are not part of it.
func clusterDigest(c *config.Config) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "config %s\n", c.Hash)
	for _, z := range c.Zones {
		if z.File == "" {
			continue
		}
		f, err := os.Open(z.File)
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
