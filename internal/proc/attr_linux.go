package proc

import "syscall"

// Attr puts a command in its own process group (so that stopping it stops
// what it started) and has the kernel kill it when grifork dies, even by
// SIGKILL, which no handler sees.
func Attr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
