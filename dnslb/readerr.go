package dnslb

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// readErrors deals with a socket's read errors other than its wake-up
// timeout (an ICMP error surfacing, or a socket gone bad). Each is counted
// (dnslb_udp_read_errors_total); the first is logged, then at most one line
// per readErrorLogEvery saying how many followed; and while reads keep
// failing the loop waits, from readBackoffMin doubling up to
// readBackoffMax, so that an error that does not go away neither spins a
// core nor floods the log. One good read ends the backoff.
type readErrors struct {
	log     *slog.Logger
	count   *atomic.Uint64
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) // tests inject a fake
	backoff time.Duration
	logged  time.Time // when the last line was written
	unsaid  int       // errors since that line
}

const (
	readBackoffMin    = time.Millisecond
	readBackoffMax    = time.Second
	readErrorLogEvery = time.Minute
)

func newReadErrors(log *slog.Logger, count *atomic.Uint64) *readErrors {
	return &readErrors{log: log, count: count, now: time.Now, sleep: sleepCtx}
}

// failed notes a failed read and waits before the next one.
func (r *readErrors) failed(ctx context.Context, local string, err error) {
	r.count.Add(1)
	now := r.now()
	if r.logged.IsZero() || now.Sub(r.logged) >= readErrorLogEvery {
		r.log.Warn("udp read failed", "listen", local, "err", err, "errors_since_last_line", r.unsaid)
		r.logged, r.unsaid = now, 0
	} else {
		r.unsaid++
	}
	if r.backoff == 0 {
		r.backoff = readBackoffMin
	} else {
		r.backoff = min(2*r.backoff, readBackoffMax)
	}
	r.sleep(ctx, r.backoff)
}

// ok notes a good read: the next error starts the backoff afresh.
func (r *readErrors) ok() { r.backoff = 0 }

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
