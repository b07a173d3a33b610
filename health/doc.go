// Package health probes targets — a check applied to one address — and keeps
// an up/down state per target with rise/fall hysteresis, so that a single
// lost packet does not withdraw a backend and a single good answer does not
// restore a flapping one.
//
// Probing and answering are separate worlds joined only by *Target: the
// Prober writes its state from one scheduler and a bounded pool of probe
// workers; the query path reads it through atomics (Up, RTT, Load, ChangeAt)
// without locks or allocations. The package knows nothing of DNS answers: a
// "dns" check is just another probe type.
package health
