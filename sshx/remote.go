package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/grifork/grifork/core"
	"golang.org/x/crypto/ssh"
)

// The remote side of every command: /bin/sh runs the command in the user's login
// shell (as sshd itself would; StartScript's in /bin/sh) in the background and
// waits for it. On TERM, HUP or INT (our "signal" request on cancellation) it
// TERMs its whole process group (sshd made it a session leader) and, once the
// command has ended or after a grace period of 5s, KILLs what is left of the
// group, itself included. It writes nothing once cancelled: the channel may be
// gone and SIGPIPE would kill it before it has cleaned up.
// With the watchdog, the command's stdin is /dev/null and a `cat` on the
// session's stdin, which grifork never writes, raises the alarm when the channel
// closes, so a lost connection also stops the command.
const wrapKill = `k() { trap '' TERM HUP INT; exec >/dev/null 2>&1; kill -TERM 0 2>/dev/null; (sleep 5; kill -KILL 0) >/dev/null 2>&1 & wait "$c"; kill -KILL 0; }
trap k TERM HUP INT
`

// loginShell runs the command in the wrappers: the shell named by their $2
// (StartScript's /bin/sh), else the login shell.
const loginShell = `"${2:-${SHELL:-/bin/sh}}"`

const wrapWatchdog = `exec 3<&0 </dev/null
` + wrapKill + loginShell + ` -c "$1" &
c=$!
(cat <&3 >/dev/null 2>&1; kill -TERM $$) >/dev/null 2>&1 &
w=$!
exec 3<&-
wait "$c"; s=$?
kill "$w" 2>/dev/null
exit "$s"`

const wrapStdin = `exec 3<&0 </dev/null
` + wrapKill + `echo $$
` + loginShell + ` -c "$1" <&3 3<&- &
c=$!
exec 3<&-
wait "$c"`

// wrap is the command line of script running cmdline, in /bin/sh when sh.
func wrap(script, cmdline string, sh bool) string {
	w := "exec /bin/sh -c " + core.ShellQuote(script) + " grifork " + core.ShellQuote(cmdline)
	if sh {
		w += " /bin/sh"
	}
	return w
}

// Remote runs cmdline (already shell-quoted) on host with stdin at /dev/null.
// Output goes to the caller's Output, labelled with the host (or what
// Options.Label says); stdout is also
// returned, up to MaxCapture. A non-zero exit status, a death by signal or a lost session is a
// *CommandError. Cancelling ctx kills the remote command's process group (see
// the package comment); Remote then returns within about 2s with an error
// wrapping ctx.Err(). A command that runs longer than ssh { command_timeout }
// is killed the same way and fails with a *TimeoutError.
func (c *Client) Remote(ctx context.Context, host core.Host, cmdline string) (string, error) {
	t, err := c.resolve(host)
	if err != nil {
		return "", err
	}
	ow, ew := c.writers(c.prefix(ctx, &host, t.display))
	var out capture
	err = c.run(ctx, t, cmdline, nil, io.MultiWriter(&out, ow), ew, c.opts.SSH.CommandTimeout, false)
	ow.Close()
	ew.Close()
	c.captured(t.display, cmdline, &out)
	return out.String(), c.withStderr(err, ew.TailWriter)
}

// Start runs cmdline on host with raw streams (nothing printed) and waits for it
// to end. stdin, when not nil, is copied to the command and then closed; Start
// may return while a Read on stdin is still blocked (that copy ends with the
// Read). nil stdout/stderr discard. Errors are as for Remote. Cancelling ctx
// kills the remote process group (by PID, from a second session on the same
// connection) and returns within about 2s. As stdin belongs to the command there
// is no channel-close watchdog: if the connection itself is lost, the command
// learns it only through its stdin (EOF) or its output (SIGPIPE).
//
// Start is not bounded by ssh { command_timeout }: it serves the processes that
// last as long as a subtree's run (a fork, a relay), whose liveness is checked
// otherwise. StartBounded is for the short commands around them.
func (c *Client) Start(ctx context.Context, host core.Host, cmdline string, stdin io.Reader, stdout, stderr io.Writer) error {
	return c.start(ctx, host, cmdline, stdin, stdout, stderr, 0, false)
}

// StartBounded is Start for a command bounded by ssh { command_timeout }, as
// Remote's are.
func (c *Client) StartBounded(ctx context.Context, host core.Host, cmdline string, stdin io.Reader, stdout, stderr io.Writer) error {
	return c.start(ctx, host, cmdline, stdin, stdout, stderr, c.opts.SSH.CommandTimeout, false)
}

// StartScript is Start (StartBounded when bounded) for a POSIX shell script,
// which /bin/sh runs rather than the login shell: one shell fewer on the host
// per session, which counts where every host gets one at every run (grifork's
// own scripts need nothing of the user's shell).
func (c *Client) StartScript(ctx context.Context, host core.Host, script string, bounded bool, stdin io.Reader, stdout, stderr io.Writer) error {
	var timeout time.Duration
	if bounded {
		timeout = c.opts.SSH.CommandTimeout
	}
	return c.start(ctx, host, script, stdin, stdout, stderr, timeout, true)
}

func (c *Client) start(ctx context.Context, host core.Host, cmdline string, stdin io.Reader, stdout, stderr io.Writer, timeout time.Duration, sh bool) error {
	t, err := c.resolve(host)
	if err != nil {
		return err
	}
	if stdin == nil {
		stdin = bytes.NewReader(nil)
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	return c.run(ctx, t, cmdline, stdin, stdout, stderr, timeout, sh)
}

// run runs one command in a session: stdin nil means the watchdog wrapper. A
// timeout > 0 bounds the command from its start (not its wait for a session).
// sh: /bin/sh runs cmdline, not the login shell.
func (c *Client) run(ctx context.Context, t target, cmdline string, stdin io.Reader, stdout, stderr io.Writer, timeout time.Duration, sh bool) error {
	command := c.redact(cmdline)
	c.log.Debug("run", "host", t.display, "command", command)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: command %s: %w", t.display, command, err)
	}
	sess, release, err := c.session(ctx, t, true)
	if err != nil {
		return err
	}
	// Gates cut the caller's writers off when run returns before the session
	// has drained (after a cancellation).
	gout, gerr := &gate{w: stdout}, &gate{w: stderr}
	var pids *pidWriter
	script := wrapWatchdog
	sess.Stdout, sess.Stderr = gout, gerr
	if stdin != nil {
		script = wrapStdin
		pids = &pidWriter{w: gout, ready: make(chan struct{})}
		sess.Stdout = pids
	}
	in, err := sess.StdinPipe()
	if err == nil {
		err = sess.Start(wrap(script, cmdline, sh))
	}
	if err != nil {
		sess.Close()
		release()
		return &CommandError{Host: t.display, Command: command, ExitStatus: -1, Err: err}
	}
	if stdin != nil {
		go func() {
			io.Copy(in, stdin)
			in.Close()
		}()
	}
	ended := make(chan struct{})
	var werr error
	go func() {
		werr = sess.Wait()
		sess.Close()
		release()
		close(ended)
	}()
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	abandon := func() {
		if done, ok := c.track(); ok {
			go func() {
				defer done()
				c.stop(t, sess, pids, ended)
			}()
		} else {
			go c.stop(t, sess, pids, ended)
		}
		// Give the remote side a moment to end, but never hang on it.
		select {
		case <-ended:
		case <-time.After(2 * time.Second):
		}
		gout.shut()
		gerr.shut()
	}
	select {
	case <-ended:
		err = werr
	case <-ctx.Done():
		abandon()
		return fmt.Errorf("%s: command %s: %w", t.display, command, ctx.Err())
	case <-expired:
		abandon()
		return &CommandError{Host: t.display, Command: command, ExitStatus: -1, Err: &TimeoutError{After: timeout}}
	}
	if err == nil {
		return nil
	}
	ce := &CommandError{Host: t.display, Command: command, ExitStatus: -1, Err: err}
	var ee *ssh.ExitError
	switch {
	case errors.As(err, &ee) && ee.Signal() != "":
		ce.Signal = ee.Signal()
	case errors.As(err, &ee):
		ce.ExitStatus = ee.ExitStatus()
	default:
		ce.Err = fmt.Errorf("session lost before the command ended: %w", err)
	}
	return ce
}

// stop ends a cancelled command. sshd honours the "signal" request only with
// privilege separation, i.e. not for root logins; so a command started with its
// own stdin (no watchdog) is also killed by PID from a second session, once the
// wrapper has reported it (the login shell may still be reading its rc files).
// Then the session is closed, which wakes the watchdog of the other kind.
func (c *Client) stop(t target, sess *ssh.Session, pids *pidWriter, ended <-chan struct{}) {
	sess.Signal(ssh.SIGTERM)
	if pids != nil {
		select {
		case <-pids.ready:
			c.kill(t, pids.pid)
		case <-ended:
		case <-time.After(time.Minute):
			c.log.Warn("cancelled command did not report its PID; closing its session only", "host", t.display)
		}
	}
	sess.Close()
}

// kill sends TERM to the wrapper with pid on t, over the existing connection
// only. It bypasses the session bound: that leaves sshd's MaxSessions two spare.
func (c *Client) kill(t target, pid int) {
	c.mu.Lock()
	e := c.conns[t.key()]
	c.mu.Unlock()
	if e == nil {
		return
	}
	select {
	case <-e.ready:
	default:
		return
	}
	if e.c == nil {
		return
	}
	sess, err := e.c.client.NewSession()
	if err == nil {
		timer := time.AfterFunc(2*time.Second, func() { sess.Close() })
		err = sess.Run("kill -TERM " + strconv.Itoa(pid))
		timer.Stop()
		sess.Close()
	}
	if err != nil {
		c.log.Warn("could not kill a cancelled command", "host", t.display, "pid", pid, "err", err)
	}
}

// gate passes writes to w until shut, then discards them.
type gate struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gate) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(b), nil
	}
	return g.w.Write(b)
}

func (g *gate) shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// pidWriter takes the first line of the wrapper's stdout (its PID, which is
// also its process group) and passes the rest on to w.
type pidWriter struct {
	w     io.Writer
	head  []byte
	pid   int // valid once ready is closed
	ready chan struct{}
}

func (p *pidWriter) Write(b []byte) (int, error) {
	n := len(b)
	select {
	case <-p.ready:
	default:
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.head = append(p.head, b...)
			return n, nil
		}
		p.head = append(p.head, b[:i]...)
		p.pid, _ = strconv.Atoi(string(p.head))
		close(p.ready)
		b = b[i+1:]
	}
	if len(b) > 0 {
		if _, err := p.w.Write(b); err != nil {
			return 0, err
		}
	}
	return n, nil
}
