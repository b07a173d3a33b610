package dnslb

import "golang.org/x/sys/unix"

// threadCPU is the CPU time the calling OS thread has used, in
// nanoseconds: on a shared machine it leaves out the time the thread
// waited for a CPU, which a wall clock counts. The caller locks its
// goroutine to the thread. CLOCK_THREAD_CPUTIME_ID reads the scheduler's
// exact runtime; getrusage's thread times are counted in scheduler ticks
// (4 ms at HZ=250), too coarse for blocks of a few milliseconds.
func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}
