package dnslb

import (
	"errors"
	"fmt"
	"os"

	"github.com/dnslb/dnslb/dnslb/config"
)

// Check validates the config at path and everything it loads (zone files,
// pools against zones), without binding anything: `dnslb -check`.
// When the config itself has errors, its zones are still loaded on their
// own, so that one run shows every problem.
func Check(path string) error { return CheckFor(path, config.Host{}) }

// CheckFor is Check with this host's settings over the file's (flags).
func CheckFor(path string, h config.Host) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cfg, err := config.ParseFor(path, src, h)
	switch {
	case cfg == nil:
		return err
	case err != nil:
		errs := []error{err}
		for i := range cfg.Zones {
			if _, zerr := (&snapshot{}).buildZone(cfg, i, nil); zerr != nil {
				errs = append(errs, zerr)
			}
		}
		return errors.Join(errs...)
	}
	if _, err = buildSnapshot(cfg, newMemberStates(), nil, nil, 2); err != nil {
		return err
	}
	_, err = loadSigners(cfg, nil, true) // reads key files; creates none
	return err
}
