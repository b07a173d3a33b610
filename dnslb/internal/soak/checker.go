package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// ownQueries counts the queries the soak itself sends dnslb (the checker's,
// the reloader's), to account for every query dnslb answered.
var ownQueries atomic.Int64

// Checker timing: one query every checkEvery, each given checkTimeout.
const (
	checkEvery   = 20 * time.Millisecond
	checkTimeout = time.Second
)

// checker asks dnslb for the pool's A records on its own UDP client and has
// the judge weigh every answer against the flap timeline.
type checker struct {
	server  netip.AddrPort
	members []netip.Addr

	mu                                                     sync.Mutex
	judge                                                  *testutil.Judge
	queries, timeouts, servfail, otherRcode, errs, foreign int
	minTTL, maxTTL                                         uint32
	examples                                               []string // timeouts, errors, odd answers
}

func (c *checker) run(ctx context.Context) {
	cl := &dns.Client{Net: "udp", Timeout: checkTimeout}
	q := new(dns.Msg)
	q.SetQuestion(poolName, dns.TypeA)
	q.RecursionDesired = false
	every(ctx, func() time.Duration { return checkEvery }, func() {
		q.Id = dns.Id()
		sent := time.Now()
		ownQueries.Add(1)
		// Not bounded by ctx: a query sent before the end gets its whole
		// timeout, where ctx's deadline would cut it short and make it
		// look lost.
		r, _, err := cl.ExchangeContext(context.WithoutCancel(ctx), q, c.server.String())
		c.weigh(sent, r, err)
	})
}

func (c *checker) weigh(sent time.Time, r *dns.Msg, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries++
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.timeouts++
			c.note("%s timeout after %s", c.judge.TL.Rel(sent), checkTimeout)
		} else {
			c.errs++
			c.note("%s error: %v", c.judge.TL.Rel(sent), err)
		}
		return
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeServerFailure:
		c.servfail++
		c.note("%s SERVFAIL", c.judge.TL.Rel(sent))
		return
	default:
		c.otherRcode++
		c.note("%s rcode %s", c.judge.TL.Rel(sent), dns.RcodeToString[r.Rcode])
		return
	}
	present := make([]bool, len(c.members))
	for _, rr := range r.Answer {
		a, ok := rr.(*dns.A)
		if !ok {
			continue
		}
		if c.minTTL == 0 || a.Hdr.Ttl < c.minTTL {
			c.minTTL = a.Hdr.Ttl
		}
		c.maxTTL = max(c.maxTTL, a.Hdr.Ttl)
		addr, _ := netip.AddrFromSlice(a.A.To4())
		known := false
		for i, m := range c.members {
			if m == addr {
				present[i], known = true, true
			}
		}
		if !known {
			c.foreign++
			c.note("%s answer lists %s, not a member", c.judge.TL.Rel(sent), addr)
		}
	}
	c.judge.Answer(sent, present)
}

func (c *checker) note(format string, args ...any) {
	if len(c.examples) < testutil.MaxExamples {
		c.examples = append(c.examples, fmt.Sprintf(format, args...))
	}
}

// checkerStats is a copy of the checker's counts.
type checkerStats struct {
	queries, timeouts, servfail, otherRcode, errs, foreign int
	stale, empty, missing                                  int
	maxServedDown, maxReturn                               time.Duration
	minTTL, maxTTL                                         uint32
	examples                                               []string
}

func (c *checker) stats() checkerStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.judge
	s := checkerStats{
		queries: c.queries, timeouts: c.timeouts, servfail: c.servfail, otherRcode: c.otherRcode, errs: c.errs, foreign: c.foreign,
		stale: j.Stale, empty: j.Empty, missing: j.Missing, maxServedDown: j.MaxServedDown, maxReturn: j.MaxReturn,
		minTTL: c.minTTL, maxTTL: c.maxTTL,
	}
	s.examples = append(s.examples, c.examples...)
	for _, k := range []string{"stale", "empty", "missing"} {
		s.examples = append(s.examples, j.Examples[k]...)
	}
	return s
}

// countMembers asks once for the pool's A records and counts the members
// listed.
func countMembers(ctx context.Context, s *setup) (int, error) {
	q := new(dns.Msg)
	q.SetQuestion(poolName, dns.TypeA)
	q.RecursionDesired = false
	cl := &dns.Client{Net: "udp", Timeout: checkTimeout}
	ownQueries.Add(1)
	r, _, err := cl.ExchangeContext(ctx, q, s.dnsAddr.String())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addr, _ := netip.AddrFromSlice(a.A.To4())
			for _, m := range s.members {
				if m == addr {
					n++
				}
			}
		}
	}
	return n, nil
}
