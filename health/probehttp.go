package health

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// Bounds on what a probe reads, so a hostile or broken backend cannot make
// the prober buffer without limit.
const (
	maxHead = 64 << 10 // status line and headers
	maxBody = 64 << 10 // the part of the body searched for Check.Body
)

// probeHTTP speaks HTTP/1.1 over a connection it dials itself rather than
// through http.Transport: one fresh connection per probe (a dead backend is
// noticed, not hidden by a pooled one), no redirects followed, no goroutines
// left behind, and the address dialed is exactly addr.
func probeHTTP(ctx context.Context, c *Check, addr, src netip.Addr) Result {
	hp := hostPort(addr, c.port())
	req, err := newRequest(ctx, c, hp)
	if err != nil {
		return failed(ReasonError, err)
	}
	conn, err := dial(ctx, hp, src)
	if err != nil {
		return failure(ctx, phaseConnect, err)
	}
	defer conn.Close()
	// The deadline bounds every read and write; AfterFunc makes a cancelled
	// ctx (shutdown) interrupt them at once.
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	raw := conn // conn becomes the TLS client below: the callback keeps its own
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if c.Type == TypeHTTPS {
		tc := tls.Client(conn, tlsConfig(c, addr))
		if err := tc.HandshakeContext(ctx); err != nil {
			return failure(ctx, phaseTLS, fmt.Errorf("health: TLS handshake with %s: %w", hp, err))
		}
		conn = tc
	}
	if err := req.Write(conn); err != nil {
		return failure(ctx, phaseExchange, fmt.Errorf("health: GET %s: %w", req.URL, err))
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.LimitReader(conn, maxHead+maxBody)), req)
	if err != nil {
		return failure(ctx, phaseExchange, fmt.Errorf("health: GET %s: %w", req.URL, err))
	}
	defer resp.Body.Close()
	r := judge(c, resp)
	if r.Err != nil {
		r.Err = fmt.Errorf("health: GET %s: %w", req.URL, r.Err)
	}
	return r
}

func newRequest(ctx context.Context, c *Check, hostport string) (*http.Request, error) {
	u, err := url.ParseRequestURI(c.path())
	if err != nil {
		return nil, c.errorf("path %q: %w", c.Path, err)
	}
	u.Scheme, u.Host = string(c.Type), hostport
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, c.errorf("%w", err)
	}
	req.Host = c.Host // "" = the URL's host:port
	req.Close = true  // "Connection: close": the server need not keep the socket for us
	req.Header.Set("User-Agent", "dnslb-health")
	return req, nil
}

func tlsConfig(c *Check, addr netip.Addr) *tls.Config {
	name := c.Host
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	if name == "" {
		name = addr.WithZone("").String() // verified against the certificate's IP SANs
	}
	return &tls.Config{
		ServerName:         name,
		RootCAs:            c.RootCAs,
		InsecureSkipVerify: c.TLSSkipVerify,
		MinVersion:         tls.VersionTLS12,
	}
}

// judge decides a response: status, then body, and records the load header
// whatever the verdict. Its errors carry no prefix; the caller adds one.
func judge(c *Check, resp *http.Response) Result {
	var r Result
	if c.LoadHeader != "" {
		if v := resp.Header.Get(c.LoadHeader); v != "" {
			r.Load, r.HasLoad = parseLoad(v)
		}
	}
	if !statusOK(c.Expect, resp.StatusCode) {
		r.Reason = ReasonStatus
		r.Err = fmt.Errorf("status %d, want %s", resp.StatusCode, expectString(c.Expect))
		return r
	}
	if c.Body != "" {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if !bytes.Contains(b, []byte(c.Body)) {
			if err != nil {
				r.Reason, r.Err = classify(phaseExchange, err), fmt.Errorf("reading body: %w", err)
			} else {
				r.Reason, r.Err = ReasonBody, fmt.Errorf("body lacks %q in its first %d bytes", c.Body, len(b))
			}
			return r
		}
	}
	r.OK = true
	return r
}

// statusOK reports whether code is in expect, or in 200-399 when expect is
// empty: a redirect proves the server is alive, and it is never followed.
func statusOK(expect []int, code int) bool {
	if len(expect) == 0 {
		return code >= 200 && code <= 399
	}
	for _, e := range expect {
		if e == code {
			return true
		}
	}
	return false
}

func expectString(expect []int) string {
	if len(expect) == 0 {
		return "200-399"
	}
	b := make([]byte, 0, 4*len(expect))
	for i, e := range expect {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(e), 10)
	}
	return string(b)
}
