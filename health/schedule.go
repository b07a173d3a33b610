package health

import (
	"context"
	"errors"
	"sync"
	"time"
)

// idleWait is how long the scheduler sleeps with nothing queued; Sync wakes
// it earlier.
const idleWait = time.Hour

// Run probes the targets on schedule until ctx is done, then waits for the
// probes in flight (cancelled by ctx, their results discarded) and returns
// nil. One goroutine keeps the schedule; Options.Concurrency workers probe.
// It returns an error only if the prober is already running.
func (p *Prober) Run(ctx context.Context) error {
	if !p.active.CompareAndSwap(false, true) {
		return errors.New("health: Run called while the prober is already running")
	}
	defer p.active.Store(false)

	jobs := make(chan *Target)
	var wg sync.WaitGroup
	for range p.conc {
		wg.Go(func() {
			for t := range jobs {
				p.execute(ctx, t)
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)

	timer := time.NewTimer(idleWait)
	defer timer.Stop()
	var due []*Target
	for {
		var wait time.Duration
		due, wait = p.popDue(due[:0])
		for i, t := range due {
			select {
			case jobs <- t:
			case <-ctx.Done():
				p.mu.Lock()
				now := p.now()
				for _, t := range due[i:] {
					p.requeueLocked(t, now)
				}
				p.mu.Unlock()
				return nil
			}
		}
		clear(due) // hold no dropped target
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		case <-timer.C:
		}
	}
}

// popDue takes the targets due now off the queue, marks them running and
// draws their next probe time; it returns them and the wait until the next.
func (p *Prober) popDue(due []*Target) ([]*Target, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for len(p.queue) > 0 {
		t := p.queue[0]
		if t.next.After(now) {
			return due, t.next.Sub(now)
		}
		p.queue.pop()
		t.running = true
		t.prev = t.next
		// From the scheduled time, not from now: a late scheduler does not
		// make the whole schedule drift.
		t.next = p.nextAfter(t.prev, t.check.Load().interval())
		due = append(due, t)
	}
	return due, idleWait
}

// execute runs one scheduled probe of t on a worker.
func (p *Prober) execute(ctx context.Context, t *Target) {
	t.probeMu.Lock()
	defer t.probeMu.Unlock()
	if !t.removed.Load() && ctx.Err() == nil {
		r := p.probeOnce(ctx, t)
		if ctx.Err() == nil { // a probe cut short by shutdown says nothing of the target
			p.finish(t, &r, true)
			return
		}
	}
	p.mu.Lock()
	p.requeueLocked(t, p.now())
	p.mu.Unlock()
}

// requeueLocked puts t, whose probe is over, back in the queue unless it was
// dropped. A probe that overran its next slot is followed at once by the
// next one, not by a burst of the ones missed.
func (p *Prober) requeueLocked(t *Target, now time.Time) {
	t.running = false
	if t.removed.Load() || t.index >= 0 {
		return
	}
	if t.next.Before(now) {
		t.next = now
	}
	p.queue.push(t)
	if t.index == 0 {
		p.signal() // earlier than what the scheduler sleeps for
	}
}

// nextAfter is prev + interval ± jitter: per-probe jitter lets targets added
// together drift apart instead of firing together forever.
func (p *Prober) nextAfter(prev time.Time, iv time.Duration) time.Time {
	if p.jitter == 0 {
		return prev.Add(iv)
	}
	j := (p.rnd.Float64()*2 - 1) * p.jitter
	return prev.Add(iv + time.Duration(j*float64(iv)))
}

// minInterval is the shortest gap nextAfter can draw (less a microsecond for
// rounding when jittered), so that ChangeAt errs early, never late.
func (p *Prober) minInterval(iv time.Duration) time.Duration {
	if p.jitter == 0 {
		return iv
	}
	return iv - time.Duration(p.jitter*float64(iv)) - time.Microsecond
}

// updateChangeAtLocked stores the earliest time t's state could flip: the
// next deciding probe (the one in flight, else the next due) plus one
// minimum fast interval per further result needed (from the first result
// against the state on, the target is counting and probed at the fast
// interval). The caller holds p.mu and t.mu.
func (p *Prober) updateChangeAtLocked(t *Target) {
	due := t.next
	if t.running {
		due = t.prev
	}
	steps := time.Duration(t.m.ToFlip() - 1)
	at := due.Add(steps * p.minInterval(t.check.Load().fastInterval()))
	t.changeAt.Store(at.UnixNano())
}
