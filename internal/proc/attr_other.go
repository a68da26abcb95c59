//go:build !linux

package proc

import "syscall"

// Attr puts a command in its own process group, so that stopping it stops
// what it started. (Only Linux has a parent-death signal.)
func Attr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
