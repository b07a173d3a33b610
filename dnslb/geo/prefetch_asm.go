//go:build amd64 || arm64

package geo

// prefetch asks the CPU to bring the cache line of p into its nearest
// cache, without waiting for it: unlike a load, the instruction retires at
// once, so the work that follows goes on while the line comes.
//
//go:noescape
func prefetch(p *uint64)
