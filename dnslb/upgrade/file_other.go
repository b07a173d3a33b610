//go:build !linux

package upgrade

import "os"

// anonymousFile is an unlinked temporary file.
func anonymousFile(name string) (*os.File, error) {
	f, err := os.CreateTemp("", name)
	if err != nil {
		return nil, err
	}
	return f, os.Remove(f.Name())
}
