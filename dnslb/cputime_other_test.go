//go:build !linux

package dnslb

// threadCPU is not measured off Linux.
func threadCPU() int64 { return 0 }
