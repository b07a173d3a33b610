package zones

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
)

// Limits bound what a Builder loads, so that a zone naming /dev/zero, a
// FIFO or a runaway $INCLUDE cannot exhaust the server or hang a reload.
// A zero field means no bound.
type Limits struct {
	MaxBytes   int64 // the zone's file and every file it $INCLUDEs, together
	MaxRecords int   // records of the zone, from files and text
}

// ErrNotRegular is returned for a zone file (or $INCLUDE) that is not a
// regular file: a device, a FIFO or a folder.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is returned when a zone's files exceed Limits.MaxBytes.
var ErrTooLarge = errors.New("larger than allowed")

// ReadFile reads a whole regular file of at most max bytes (0: no bound).
// It never blocks on a FIFO (opened without waiting for a writer, then
// refused) and never reads past max, however the file grows.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fileKind(st.Mode()))
	}
	if max > 0 && st.Size() > max {
		return nil, fmt.Errorf("%s: %w: %d bytes, at most %d", path, ErrTooLarge, st.Size(), max)
	}
	r := io.Reader(f)
	if max > 0 {
		r = io.LimitReader(f, max+1)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if max > 0 && int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrTooLarge, max)
	}
	return b, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}

// loadGuard is what the parsers of one zone share to stay within its
// limits and its context: a byte budget for files and a stop flag.
type loadGuard struct {
	ctx    context.Context
	limits Limits
	bytes  atomic.Int64 // read so far, file and includes
	stop   atomic.Bool  // a limit was passed or ctx is done: parsers stop
}

// read reads a zone file or an $INCLUDE against the zone's byte budget.
func (g *loadGuard) read(path string) ([]byte, error) {
	if err := g.ctx.Err(); err != nil {
		g.stop.Store(true)
		return nil, err
	}
	left := int64(0)
	if g.limits.MaxBytes > 0 {
		left = g.limits.MaxBytes - g.bytes.Load()
		if left <= 0 {
			g.stop.Store(true)
			return nil, fmt.Errorf("%s: %w: the zone's files already take %d bytes, at most %d", path, ErrTooLarge, g.bytes.Load(), g.limits.MaxBytes)
		}
	}
	b, err := ReadFile(path, left)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			g.stop.Store(true)
		}
		return nil, err
	}
	if n := g.bytes.Add(int64(len(b))); g.limits.MaxBytes > 0 && n > g.limits.MaxBytes {
		g.stop.Store(true)
		return nil, fmt.Errorf("%s: %w: the zone's files take more than %d bytes", path, ErrTooLarge, g.limits.MaxBytes)
	}
	return b, nil
}

// stopped reports whether parsers should stop, checking ctx.
func (g *loadGuard) stopped() bool {
	if g.stop.Load() {
		return true
	}
	if g.ctx.Err() != nil {
		g.stop.Store(true)
		return true
	}
	return false
}
