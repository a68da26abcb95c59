package sshx

import "syscall"

// localProcAttr puts a local command in its own process group (so that
// cancelling kills what it started, rsync's ssh included) and has the kernel
// kill it when grifork dies, even by SIGKILL, which no handler sees.
func localProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
