package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// Flap timing: one change every minFlap to maxFlap, drawn uniformly.
const (
	minFlap = 3 * time.Second
	maxFlap = 8 * time.Second
)

// flapper stops or restarts one backend at a time, never leaving all of them
// stopped, and records each change on the timeline and in log.
type flapper struct {
	backends []*backend
	tl       *testutil.Timeline
	rnd      *rand.Rand
	log      io.Writer
	errs     []error // restarts that failed
}

func (f *flapper) run(ctx context.Context) { every(ctx, f.next, f.flip) }

func (f *flapper) next() time.Duration {
	return minFlap + time.Duration(f.rnd.Int64N(int64(maxFlap-minFlap)))
}

// flip changes one backend drawn at random: a stopped one is restarted, a
// running one stopped in a random mode, unless it is the last one running,
// in which case a stopped one is restarted instead.
func (f *flapper) flip() {
	i := f.rnd.IntN(len(f.backends))
	var up, down []int
	for k, b := range f.backends {
		if b.isUp() {
			up = append(up, k)
		} else {
			down = append(down, k)
		}
	}
	if f.backends[i].isUp() && len(up) == 1 {
		i = down[f.rnd.IntN(len(down))]
	}
	b := f.backends[i]
	if b.isUp() {
		m := modeRefuse
		switch r := f.rnd.IntN(4); {
		case r == 2:
			m = mode503
		case r == 3:
			m = modeHang
		}
		b.stop(m)
		at := time.Now()
		f.tl.Record(i, false, m.String(), at)
		fmt.Fprintf(f.log, "%s %s member %d %s down (%s)\n", at.Format(time.TimeOnly+".000"), f.tl.Rel(at), i+1, b.Host(), m)
		return
	}
	if err := b.start(); err != nil {
		f.errs = append(f.errs, err)
		fmt.Fprintf(f.log, "%s member %d: %v\n", time.Now().Format(time.TimeOnly+".000"), i+1, err)
		return
	}
	at := time.Now()
	f.tl.Record(i, true, "", at)
	fmt.Fprintf(f.log, "%s %s member %d %s up\n", at.Format(time.TimeOnly+".000"), f.tl.Rel(at), i+1, b.Host())
}

// every calls fn after each wait next returns, until ctx is done.
func every(ctx context.Context, next func() time.Duration, fn func()) {
	t := time.NewTimer(next())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
		t.Reset(next())
	}
}
