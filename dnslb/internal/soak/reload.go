package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/dnslb/dnslb/dnslb/testutil"
)

// reloadEvery is the reloader's period.
const reloadEvery = 10 * time.Second

// reloader rewrites the config with the other variant every reloadEvery and
// makes dnslb reload it, through the admin API and SIGHUP in turn, then
// checks that the new variant's marker record is served.
type reloader struct {
	s    *setup
	proc *os.Process // for SIGHUP
	http *http.Client
	log  io.Writer
	tl   *testutil.Timeline

	n               int
	ok, failed      int
	byAPI, bySignal int
	whileDown       int           // reloads made while dnslb had a member marked down
	slowest         time.Duration // longest from the trigger to the marker served
	failures        []string
}

func (r *reloader) run(ctx context.Context) {
	every(ctx, func() time.Duration { return reloadEvery }, func() {
		r.n++
		bySignal := r.n%2 == 0 && r.proc != nil
		whileDown := r.memberDown(time.Now())
		err := r.reload(ctx, variants[r.n%2], bySignal)
		if over(ctx) {
			return // cut short by the end of the soak: no verdict
		}
		if bySignal {
			r.bySignal++
		} else {
			r.byAPI++
		}
		if whileDown {
			r.whileDown++
		}
		if err != nil {
			r.failed++
			if len(r.failures) < testutil.MaxExamples {
				r.failures = append(r.failures, err.Error())
			}
			fmt.Fprintf(r.log, "%s reload %d failed: %v\n", time.Now().Format(time.TimeOnly+".000"), r.n, err)
		} else {
			r.ok++
		}
	})
}

// memberDown reports whether a backend has been down longer than the
// detection time, so that dnslb has it marked down: a reload that forgot
// health state would serve it again, which the checker would see.
func (r *reloader) memberDown(now time.Time) bool {
	for i := range r.s.members {
		if st := r.tl.StateAt(i, now); !st.Up && now.Sub(st.At) > r.s.detection() {
			return true
		}
	}
	return false
}

// reload writes variant v and has dnslb load it, then waits for v's marker
// to be served.
func (r *reloader) reload(ctx context.Context, v variant, bySignal bool) error {
	if err := r.s.write(v); err != nil {
		return err
	}
	start := time.Now()
	how := "api"
	if bySignal {
		how = "SIGHUP"
		if err := r.proc.Signal(syscall.SIGHUP); err != nil {
			return fmt.Errorf("SIGHUP: %w", err)
		}
	} else if err := r.post(ctx); err != nil {
		return err
	}
	// The marker tells the new config is the one answering.
	deadline := start.Add(3 * time.Second)
	var got netip.Addr
	for {
		got, _ = queryA(ctx, r.s.dnsAddr, markerName)
		if got == v.marker {
			d := time.Since(start)
			r.slowest = max(r.slowest, d)
			fmt.Fprintf(r.log, "%s reload %d (%s) to variant %s served after %s\n", time.Now().Format(time.TimeOnly+".000"), r.n, how, v.name, d.Truncate(time.Microsecond))
			return nil
		}
		if time.Now().After(deadline) || over(ctx) {
			return fmt.Errorf("reload %d (%s) to variant %s: %s still answers %v, want %s", r.n, how, v.name, markerName, got, v.marker)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *reloader) post(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+r.s.httpAddr.String()+"/api/v1/reload", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.s.token)
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("POST /api/v1/reload: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		OK     bool     `json:"ok"`
		Errors []string `json:"errors"`
		Error  string   `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != http.StatusOK || !body.OK {
		return fmt.Errorf("POST /api/v1/reload: %s: %s", resp.Status, b)
	}
	return nil
}

// queryA asks server for name's first A record over UDP.
func queryA(ctx context.Context, server netip.AddrPort, name string) (netip.Addr, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	q.RecursionDesired = false
	cl := &dns.Client{Net: "udp", Timeout: time.Second}
	ownQueries.Add(1)
	r, _, err := cl.ExchangeContext(ctx, q, server.String())
	if err != nil {
		return netip.Addr{}, err
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addr, _ := netip.AddrFromSlice(a.A.To4())
			return addr, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s: no A record (rcode %s)", name, dns.RcodeToString[r.Rcode])
}

// over reports whether ctx is done or past its deadline: a socket deadline
// taken from ctx can expire a moment before ctx's own timer marks it done.
func over(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
