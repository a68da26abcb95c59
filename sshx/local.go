package sshx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/proc"
)

// prefix is what output lines of a command are labelled with: what the
// caller's Label says for ctx, else the host as shown (display), or
// core.RootHost for a command on this machine (host nil).
func (c *Client) prefix(ctx context.Context, host *core.Host, display string) string {
	if c.opts.Label != nil {
		if l := c.opts.Label(ctx, host); l != "" {
			return l
		}
	}
	if host == nil {
		return core.RootHost
	}
	return display
}

// writers returns the writers for one command's stdout and stderr, which the
// caller's Output prints labelled with prefix; the stderr one also keeps the
// reason of a failure for the command's error.
func (c *Client) writers(prefix string) (stdout io.WriteCloser, stderr *stderrWriter) {
	tail := NewTailWriter(func(string) {})
	if c.opts.Output == nil {
		return nopCloser{io.Discard}, &stderrWriter{TailWriter: tail, out: nopCloser{io.Discard}}
	}
	return c.opts.Output(prefix), &stderrWriter{TailWriter: tail, out: c.opts.Output(prefix)}
}

// stderrWriter prints a command's stderr as it comes and keeps its reason.
type stderrWriter struct {
	*TailWriter
	out io.WriteCloser
}

func (w *stderrWriter) Write(b []byte) (int, error) {
	w.out.Write(b) // a printer does not fail: the run goes on
	return w.TailWriter.Write(b)
}

func (w *stderrWriter) Close() error {
	w.out.Close()
	return w.TailWriter.Close()
}

// MaxCapture is how much of a command's stdout Local and Remote return (what
// sh() and ssh() give the task): the output is printed whole, but a command
// printing gigabytes must not hold them in memory for a value that an exec
// never reads.
const MaxCapture = 1 << 20

// capture keeps the first MaxCapture bytes written to it and counts the rest.
type capture struct {
	b strings.Builder
	n int64
}

func (c *capture) Write(p []byte) (int, error) {
	if room := MaxCapture - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	c.n += int64(len(p))
	return len(p), nil
}

func (c *capture) String() string { return c.b.String() }

// captured says, once a run, that a command's stdout was longer than what the
// task gets back; the later ones are logged at debug level.
func (c *Client) captured(host, command string, out *capture) {
	if out.n <= MaxCapture {
		return
	}
	level := slog.LevelDebug
	c.capOnce.Do(func() { level = slog.LevelWarn })
	c.log.Log(context.Background(), level, "a command printed more than 1 MiB on stdout: all of it was printed, but what sh() or ssh() returns to a task holds its first 1 MiB",
		"host", host, "command", c.redact(command), "bytes", out.n)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Local runs argv on this machine without a shell, in its own process group,
// killed with grifork on Linux (a parent-death signal).
// Output goes to the caller's Output; stdout is also returned, up to
// MaxCapture. Cancelling
// ctx sends SIGTERM to the process group and SIGKILL 5s later; so does ssh {
// command_timeout }, and the command fails with a *TimeoutError.
func (c *Client) Local(ctx context.Context, argv []string) (string, error) {
	if len(argv) == 0 {
		return "", errors.New("localhost: empty command")
	}
	command := c.redact(core.ShellJoin(argv))
	done, ok := c.track()
	if !ok {
		return "", fmt.Errorf("%s: command %s: %w", core.RootHost, command, errClosed)
	}
	defer done()
	c.log.Debug("run", "host", core.RootHost, "command", command)
	ow, ew := c.writers(c.prefix(ctx, nil, ""))
	var out capture
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = io.MultiWriter(&out, ow)
	cmd.Stderr = ew
	cmd.SysProcAttr = proc.Attr()
	if r := c.relay.Load(); r != nil {
		cmd.Env = append(os.Environ(), r.env()...) // an rsync finds RshName and its socket
	}
	// Wait waits for the output pipes too; a grandchild holding them past the
	// SIGKILL is abandoned after another grace period.
	cmd.WaitDelay = 2 * killGrace
	if err := cmd.Start(); err != nil {
		return "", &CommandError{Host: core.RootHost, Command: command, ExitStatus: -1, Err: err}
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	kill := func() { proc.Stop(pgid, killGrace, exited) }
	stop := context.AfterFunc(ctx, kill)
	var timedOut atomic.Bool
	if d := c.opts.SSH.CommandTimeout; d > 0 {
		timer := time.AfterFunc(d, func() {
			timedOut.Store(true)
			kill()
		})
		defer timer.Stop()
	}
	err := cmd.Wait()
	close(exited)
	cancelled := !stop() // false once the kill above has started
	ow.Close()
	ew.Close()
	c.captured(core.RootHost, command, &out)
	if cancelled {
		return out.String(), fmt.Errorf("%s: command %s: %w", core.RootHost, command, ctx.Err())
	}
	if err != nil && timedOut.Load() {
		ce := &CommandError{Host: core.RootHost, Command: command, ExitStatus: -1, Err: &TimeoutError{After: c.opts.SSH.CommandTimeout}}
		return out.String(), c.withStderr(ce, ew.TailWriter)
	}
	if err != nil {
		ce := &CommandError{Host: core.RootHost, Command: command, ExitStatus: -1, Err: err}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				ce.Signal = ws.Signal().String()
			} else {
				ce.ExitStatus = ee.ExitCode()
			}
		}
		return out.String(), c.withStderr(ce, ew.TailWriter)
	}
	return out.String(), nil
}
