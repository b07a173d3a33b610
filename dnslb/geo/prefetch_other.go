//go:build !amd64 && !arm64

package geo

// prefetch is a hint that this architecture goes without.
func prefetch(p *uint64) {}
