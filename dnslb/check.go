package dnslb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dnslb/dnslb/dnslb/config"
)

// Check validates the config at path and everything it loads (zone files,
// pools against zones), without binding anything: `dnslb -check`.
// When the config itself has errors, its zones are still loaded on their
// own, so that one run shows every problem. Loading is bounded by the
// config's reload_timeout, as at start-up.
func Check(path string) error { return CheckFor(path, config.Host{}) }

// CheckFor is Check with this host's settings over the file's (flags).
func CheckFor(path string, h config.Host) error {
	src, err := config.ReadFile(path)
	if err != nil {
		return err
	}
	cfg, err := config.ParseFor(path, src, h)
	switch {
	case cfg == nil:
		return err
	case err != nil:
		errs := []error{err}
		ctx, cancel := loadContext(context.Background(), cfg)
		defer cancel()
		for i := range cfg.Zones {
			if _, zerr := (&snapshot{}).buildZone(ctx, cfg, i, nil); zerr != nil {
				errs = append(errs, timeoutError(ctx, cfg, zerr))
			}
		}
		return errors.Join(errs...)
	}
	ctx, cancel := loadContext(context.Background(), cfg)
	defer cancel()
	if _, err = buildSnapshotContext(ctx, cfg, newMemberStates(), nil, nil, 2); err != nil {
		return timeoutError(ctx, cfg, err)
	}
	_, err = loadSigners(cfg, nil, true) // reads key files; creates none
	return err
}

// loadContext bounds the loading of cfg's zones by its reload_timeout.
func loadContext(ctx context.Context, cfg *config.Config) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, reloadTimeout(cfg))
}

// reloadTimeout is cfg's reload_timeout (the default for a config whose
// [server] did not check out).
func reloadTimeout(cfg *config.Config) time.Duration {
	if d := cfg.Server.ReloadTimeout; d > 0 {
		return d
	}
	return config.DefaultReloadTimeout
}

// timeoutError puts first, in plain words, that loading ran out of time.
func timeoutError(ctx context.Context, cfg *config.Config, err error) error {
	if err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%s: loading did not finish within reload_timeout (%v): %w", cfg.File, reloadTimeout(cfg), err)
}
