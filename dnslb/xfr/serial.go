// Package xfr is the primary's side of zone transfers: serial arithmetic
// (RFC 1982), the bounded history of differences IXFR serves (RFC 1995),
// the serial kept across restarts, and NOTIFY (RFC 1996). It knows nothing
// of pools or of the server.
package xfr

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Greater reports whether serial a comes after b (RFC 1982 §3.2). Serials
// half the space apart are incomparable and neither is greater.
func Greater(a, b uint32) bool { return a != b && a-b < 1<<31 }

// Next returns the serial that follows cur: cur+1 (wrapping past 2^32-1),
// or floor when floor is after that (the zone file's serial was raised).
func Next(cur, floor uint32) uint32 {
	n := cur + 1
	if Greater(floor, n) {
		return floor
	}
	return n
}

// ReadSerial returns the serial kept at path; ok is false when there is
// none yet.
func ReadSerial(path string) (serial uint32, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("xfr: reading serial: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 0, false, fmt.Errorf("xfr: %s: %q is not a serial (a number below 2^32); remove the file to start from the zone file's serial", path, strings.TrimSpace(string(b)))
	}
	return uint32(n), true, nil
}

// WriteSerial keeps serial at path atomically: a crash leaves the old
// serial or the new one, never a torn file.
func WriteSerial(path string, serial uint32) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("xfr: writing serial: %w", err)
	}
	_, err = fmt.Fprintf(tmp, "%d\n", serial)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("xfr: writing serial: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
