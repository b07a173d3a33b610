package dnslb

import (
	"context"
	"sync/atomic"
	"time"
)

// coarseClock is read once per pooled answer (for adaptive TTLs). Reading
// the system clock costs more than assembling the answer, so a goroutine
// refreshes it every tick; it reads one tick ahead so that TTLs computed
// from it err on the short side.
type coarseClock struct {
	t atomic.Int64 // unix nanos
}

const clockTick = 20 * time.Millisecond

func (c *coarseClock) now() int64 { return c.t.Load() }

func (c *coarseClock) set() { c.t.Store(time.Now().Add(clockTick).UnixNano()) }

func (c *coarseClock) run(ctx context.Context) {
	t := time.NewTicker(clockTick)
	defer t.Stop()
	for {
		c.set()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
