package dnslb

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// TestReadErrorsBackOff: a read error that does not go away is counted
// every time, logged once a minute at most, and makes the loop wait longer
// and longer (up to a second) instead of spinning; a good read ends the
// wait. The clock and the waits are fakes: a reader failing 10,000 times.
func TestReadErrorsBackOff(t *testing.T) {
	var logs testutil.SyncBuffer
	var count atomic.Uint64
	r := newReadErrors(slog.New(slog.NewTextHandler(&logs, nil)), &count)
	now := time.Unix(1e9, 0)
	var slept time.Duration
	var last time.Duration
	r.now = func() time.Time { return now }
	r.sleep = func(_ context.Context, d time.Duration) { slept += d; last = d; now = now.Add(d) }
	read := func() error { return errors.New("recvmmsg: bad socket") } // the injected failing reader
	for range 10000 {
		if err := read(); err != nil {
			r.failed(context.Background(), "127.0.0.1:53", err)
		}
	}
	if count.Load() != 10000 {
		t.Errorf("counted %d errors, want 10000", count.Load())
	}
	if last != readBackoffMax {
		t.Errorf("last wait %v, want the cap %v", last, readBackoffMax)
	}
	// 10,000 reads took ~10,000 s of (fake) waiting: about one a second once
	// backed off, where the loop used to retry at once.
	if slept < 9000*time.Second {
		t.Errorf("waited %v in all for 10,000 failures: the loop spins", slept)
	}
	lines := strings.Count(logs.String(), "udp read failed")
	if max := int(slept/readErrorLogEvery) + 1; lines == 0 || lines > max {
		t.Errorf("%d log lines over %v, want 1 to %d", lines, slept, max)
	}
	if !strings.Contains(logs.String(), "errors_since_last_line=") {
		t.Errorf("log lines do not say how many errors they stand for:\n%s", logs.String())
	}
	r.ok()
	r.failed(context.Background(), "127.0.0.1:53", read())
	if last != readBackoffMin {
		t.Errorf("after a good read the wait is %v, want %v", last, readBackoffMin)
	}
}
