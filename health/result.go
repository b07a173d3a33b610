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
	// ReasonLocal: the probe failed for a reason on this host (no file
	// descriptor, no memory or buffer, no route or source address from
	// here). It says nothing of the target: it counts toward neither fall
	// nor rise.
	ReasonLocal = "local"
)

// localErrnos are the errors a probe meets because of this host, not the
// target. EHOSTUNREACH is not one: on a shared link it is how a dead
// neighbour shows (no ARP reply).
var localErrnos = []syscall.Errno{
	syscall.EMFILE, syscall.ENFILE, // out of file descriptors
	syscall.ENOMEM, syscall.ENOBUFS, // out of memory or socket buffers
	syscall.EADDRNOTAVAIL, // no source address or ephemeral port left
	syscall.ENETUNREACH,   // no route from here
	syscall.EAFNOSUPPORT,  // the address family is off on this host
	syscall.EPERM,         // refused by this host's firewall or policy
}

// IsLocal reports whether err is a failure of this host rather than of the
// target it was probing.
func IsLocal(err error) bool {
	if err == nil {
		return false
	}
	for _, e := range localErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

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
	if IsLocal(err) {
		return failed(ReasonLocal, err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return failed(ReasonTimeout, err)
	}
	return failed(classify(p, err), err)
}

// classify maps err, met during phase p, to a reason label.
func classify(p phase, err error) string {
	var ne net.Error
	switch {
	case IsLocal(err):
		return ReasonLocal
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
