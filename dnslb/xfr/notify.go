package xfr

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/tsig"
)

// Notifier sends NOTIFY (RFC 1996) for new serials and retries each until
// the secondary answers or a newer serial of the zone replaces it. Its
// zero value is not usable: use NewNotifier.
type Notifier struct {
	log     *slog.Logger
	count   func(result string) // "acked", "retry", "superseded"
	timeout time.Duration       // per attempt
	first   time.Duration       // first backoff, doubled up to max
	max     time.Duration

	mu      sync.Mutex
	current map[string]uint32 // zone + target -> serial being sent
	wg      sync.WaitGroup
}

// NewNotifier returns a Notifier that logs to log and counts each outcome
// with count (may be nil).
func NewNotifier(log *slog.Logger, count func(result string)) *Notifier {
	if count == nil {
		count = func(string) {}
	}
	return &Notifier{log: log, count: count, timeout: 2 * time.Second, first: time.Second, max: time.Minute, current: map[string]uint32{}}
}

// Notify tells every target that zone now has serial soa.Serial, signed
// with key when it is not nil (RFC 8945; as BIND and Knot sign NOTIFY with
// the key the secondary transfers with). It returns at once; the sends
// stop when ctx is done (Wait waits for them).
func (n *Notifier) Notify(ctx context.Context, zone string, soa *dns.SOA, targets []netip.AddrPort, key *tsig.Key) {
	for _, t := range targets {
		id := zone + " " + t.String()
		n.mu.Lock()
		n.current[id] = soa.Serial
		n.mu.Unlock()
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.send(ctx, id, zone, soa, t, key)
		}()
	}
}

// Wait waits for every send to end.
func (n *Notifier) Wait() { n.wg.Wait() }

func (n *Notifier) superseded(key string, serial uint32) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.current[key] != serial
}

func (n *Notifier) send(ctx context.Context, id, zone string, soa *dns.SOA, target netip.AddrPort, key *tsig.Key) {
	m := new(dns.Msg)
	m.SetNotify(zone)
	m.Authoritative = true
	s := *soa
	m.Answer = []dns.RR{&s} // RFC 1996 §3.7: the new SOA, a hint
	c := &dns.Client{Net: "udp", Timeout: n.timeout}
	if key != nil {
		// The client signs the request and verifies a signed response.
		c.TsigSecret = map[string]string{key.Name: key.Secret()}
	}
	wait := n.first
	for attempt := 1; ; attempt++ {
		if n.superseded(id, soa.Serial) {
			n.count("superseded")
			return
		}
		m.Id = dns.Id()
		if key != nil {
			m.Extra = nil
			m.SetTsig(key.Name, key.Algorithm, tsig.Fudge, time.Now().Unix())
		}
		start := time.Now()
		r, _, err := c.ExchangeContext(ctx, m, target.String())
		if ctx.Err() != nil {
			return
		}
		if err == nil && r.Opcode == dns.OpcodeNotify && r.Rcode == dns.RcodeSuccess {
			n.count("acked")
			n.log.Info("notify acknowledged", "zone", zone, "serial", soa.Serial, "target", target.String(), "attempt", attempt, "rtt", time.Since(start).String())
			return
		}
		why := ""
		switch {
		case err != nil:
			why = err.Error()
		case r.Opcode != dns.OpcodeNotify:
			why = "the answer is not a NOTIFY response"
		default:
			why = "answered " + dns.RcodeToString[r.Rcode]
		}
		n.count("retry")
		n.log.Warn("notify not acknowledged; retrying", "zone", zone, "serial", soa.Serial, "target", target.String(), "attempt", attempt, "reason", why, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, n.max)
	}
}
