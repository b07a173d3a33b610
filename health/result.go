package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Result is the outcome of one probe.
type Result struct {
	OK      bool
	RTT     time.Duration // time the probe took, success or not
	Reason  string        // "" on success, else one of the Reason* labels
	Err     error         // why it failed; nil on success
	Load    float64       // the value of Check.LoadHeader, when HasLoad
	HasLoad bool
}

// Failure reasons: a short, bounded set, fit to be a metric label.
const (
	ReasonTimeout = "timeout" // no answer within the timeout
	ReasonRefused = "refused" // connection refused (or ICMP port unreachable)
	ReasonConnect = "connect" // any other failure to connect
	ReasonStatus  = "status"  // HTTP status not expected
	ReasonBody    = "body"    // HTTP body lacks the expected text
	ReasonTLS     = "tls"     // TLS handshake or certificate verification failed
	ReasonRcode   = "rcode"   // DNS rcode not expected
	ReasonError   = "error"   // anything else (malformed answer, bad check)
)

// ProbeFunc probes addr as c says. It must return once ctx is done.
type ProbeFunc func(ctx context.Context, c *Check, addr netip.Addr) Result

func failed(reason string, err error) Result {
	return Result{Reason: reason, Err: err}
}

// phase says how far a probe got, which decides what an error means: a reset
// while dialing is "refused" or "connect", during a handshake it is "tls".
type phase int

const (
	phaseConnect phase = iota
	phaseTLS
	phaseExchange
)

// failure is the Result of err, met during p. A probe cut short by its
// deadline is a timeout, whatever error the interrupted call returned.
func failure(ctx context.Context, p phase, err error) Result {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return failed(ReasonTimeout, err)
	}
	return failed(classify(p, err), err)
}

// classify maps err, met during phase p, to a reason label.
func classify(p phase, err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonRefused
	case p == phaseConnect:
		return ReasonConnect
	case p == phaseTLS || isTLSError(err):
		return ReasonTLS
	}
	return ReasonError
}

func isTLSError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		aerr tls.AlertError
		rerr tls.RecordHeaderError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &aerr) || errors.As(err, &rerr) ||
		errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr)
}
