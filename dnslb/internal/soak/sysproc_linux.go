package main

import "syscall"

// sysProcAttr makes the kernel kill dnslb when the soak tool dies, so that a
// killed soak leaves nothing listening behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
