//go:build !linux

package sshx

import "syscall"

// localProcAttr puts a local command in its own process group, so that
// cancelling kills what it started. (Only Linux has a parent-death signal.)
func localProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
