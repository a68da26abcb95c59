// Package proc runs local commands in a process group of their own and stops
// the group whole, so that what a command started (an upcall's sed, a
// ProxyCommand's nc, an rsync's ssh) ends with it.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Stop ends process group pgid: SIGTERM, then SIGKILL once grace has passed,
// unless exited (closed when the group's leader was reaped) is closed first.
func Stop(pgid int, grace time.Duration, exited <-chan struct{}) {
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// stopGrace is how long Output's commands have between SIGTERM and SIGKILL,
// and how long it waits for a child left behind holding their output.
const stopGrace = time.Second

// Output runs argv in dir, in a process group of its own, for at most
// timeout; the group is stopped when the time is up or ctx is done. It
// returns the standard output. Its error says what failed: a *TimeoutError,
// ctx's error, or the command's (its exit status) with the first line it
// wrote to its standard error.
func Output(ctx context.Context, timeout time.Duration, dir string, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = Attr()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = stopGrace // a child left behind holding the pipes cannot hold Wait
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	exited := make(chan struct{})
	stop := context.AfterFunc(tctx, func() { Stop(cmd.Process.Pid, stopGrace, exited) })
	err := cmd.Wait()
	stopped := !stop()
	close(exited)
	switch {
	case stopped && ctx.Err() == nil:
		return nil, &TimeoutError{After: timeout}
	case stopped:
		return nil, ctx.Err()
	case err != nil:
		if msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n"); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}
	return stdout.Bytes(), nil
}

// TimeoutError is a command that ran longer than it was given.
type TimeoutError struct{ After time.Duration }

func (e *TimeoutError) Error() string { return fmt.Sprintf("ran longer than %s", e.After) }
