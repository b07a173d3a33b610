package upgrade

import (
	"os"

	"golang.org/x/sys/unix"
)

// anonymousFile is a file in memory with no name anywhere: it needs no
// writable folder (systemd's ProtectSystem) and vanishes with its last
// descriptor.
func anonymousFile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}
