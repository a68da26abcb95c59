// Package proc runs local commands in a process group of their own and stops
// the group whole, so that what a command started (an upcall's sed, a
// ProxyCommand's nc, an rsync's ssh) ends with it.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
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
// and how long it waits for a process that left the group holding their
// output.
const stopGrace = time.Second

// Output runs argv in dir, in a process group of its own, for at most
// timeout; the group is stopped when the time is up or ctx is done. It
// returns the standard output. Its error says what failed: a *TimeoutError,
// ctx's error, or the command's (its exit status) with the first line it
// wrote to its standard error.
//
// The command is done when it exits: what it left running in its group (a
// script's background child) is killed then, and its output is what the
// group wrote until that moment. A command that exited 0 succeeds, though a
// child it left held its output open.
func Output(ctx context.Context, timeout time.Duration, dir string, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = Attr()
	// The command's output goes to pipes of its own, not through exec's
	// copying goroutines, so that Wait returns once the command exits,
	// whatever it left holding them.
	var stdout, stderr bytes.Buffer
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer outR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return nil, err
	}
	defer errR.Close()
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return nil, err
	}
	var reads sync.WaitGroup
	reads.Go(func() { stdout.ReadFrom(outR) })
	reads.Go(func() { stderr.ReadFrom(errR) })
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	exited := make(chan struct{})
	stop := context.AfterFunc(tctx, func() { Stop(cmd.Process.Pid, stopGrace, exited) })
	err = cmd.Wait()
	stopped := !stop()
	close(exited)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what it left behind
	drained := make(chan struct{})
	go func() { reads.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(stopGrace):
		// A process that left the group (setsid) still holds a pipe.
		outR.Close()
		errR.Close()
		<-drained
	}
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
