package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sync/atomic"

	"github.com/grifork/grifork/core"
	"golang.org/x/crypto/ssh"
)

// The remote side of every command: /bin/sh runs the command in the user's login
// shell (as sshd itself would) in the background and waits for it. On TERM, HUP
// or INT (our "signal" request on cancellation) it TERMs its whole process group
// (sshd made it a session leader) and, once the command has ended or after a
// grace period of 5s, KILLs what is left of the group, itself included. It
// writes nothing once cancelled: the channel may be gone and SIGPIPE would kill it
// before it has cleaned up.
// With the watchdog, the command's stdin is /dev/null and a `cat` on the
// session's stdin, which grifork never writes, raises the alarm when the channel
// closes, so a lost connection also stops the command.
const wrapKill = `k() { trap '' TERM HUP INT; exec >/dev/null 2>&1; kill -TERM 0 2>/dev/null; (sleep 5; kill -KILL 0) >/dev/null 2>&1 & wait "$c"; kill -KILL 0; }
trap k TERM HUP INT
`

const wrapWatchdog = `exec 3<&0 </dev/null
` + wrapKill + `"${SHELL:-/bin/sh}" -c "$1" &
c=$!
(cat <&3 >/dev/null 2>&1; kill -TERM $$) >/dev/null 2>&1 &
w=$!
exec 3<&-
wait "$c"; s=$?
kill "$w" 2>/dev/null
exit "$s"`

const wrapStdin = `exec 3<&0 </dev/null
` + wrapKill + `"${SHELL:-/bin/sh}" -c "$1" <&3 3<&- &
c=$!
exec 3<&-
wait "$c"`

func wrap(script, cmdline string) string {
	return "exec /bin/sh -c " + core.ShellQuote(script) + " grifork " + core.ShellQuote(cmdline)
}

// Remote runs cmdline (already shell-quoted) on host with stdin at /dev/null.
// Output goes line by line to the printer prefixed with the host; stdout is also
// returned. A non-zero exit status, a death by signal or a lost session is a
// *CommandError. Cancelling ctx signals the remote command, which kills its
// process group, and closes the session.
func (c *Client) Remote(ctx context.Context, host core.Host, cmdline string) (string, error) {
	t, err := c.resolve(host)
	if err != nil {
		return "", err
	}
	ow, ew := c.writers(t.display)
	var out bytes.Buffer
	err = c.run(ctx, t, cmdline, nil, io.MultiWriter(&out, ow), ew)
	ow.Close()
	ew.Close()
	return out.String(), err
}

// Start runs cmdline on host with raw streams (nothing printed) and waits for it
// to end. stdin, when not nil, is copied to the command and then closed; Start
// may return while a Read on stdin is still blocked (that copy ends with the
// Read). nil stdout/stderr discard. Errors and cancellation are as for Remote.
// Without a channel-close watchdog (stdin is the command's), a lost connection
// is noticed by the command only through its stdin or output.
func (c *Client) Start(ctx context.Context, host core.Host, cmdline string, stdin io.Reader, stdout, stderr io.Writer) error {
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
	return c.run(ctx, t, cmdline, stdin, stdout, stderr)
}

// WriteFile writes r to path on host with mode, over the existing connection:
// the data goes to a temporary file next to path that is renamed over path only
// when complete, so readers never see half a file. The directory must exist.
func (c *Client) WriteFile(ctx context.Context, host core.Host, file string, mode os.FileMode, r io.Reader) error {
	q := core.ShellQuote(file)
	script := fmt.Sprintf(`umask 077
tmp=$(mktemp %s) || exit 1
trap 'rm -f "$tmp"' EXIT
trap 'exit 143' TERM HUP INT
cat >"$tmp" && chmod %o "$tmp" && mv -f "$tmp" %s`,
		core.ShellQuote(path.Join(path.Dir(file), "."+path.Base(file)+".grifork-XXXXXX")), mode.Perm(), q)
	return c.Start(ctx, host, script, r, nil, nil)
}

// run runs one command in a session: stdin nil means the watchdog wrapper.
func (c *Client) run(ctx context.Context, t target, cmdline string, stdin io.Reader, stdout, stderr io.Writer) error {
	command := c.redact(cmdline)
	c.log.Debug("run", "host", t.display, "command", command)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: command %s: %w", t.display, command, err)
	}
	sess, release, err := c.session(ctx, t)
	if err != nil {
		return err
	}
	defer release()
	defer sess.Close()
	sess.Stdout, sess.Stderr = stdout, stderr
	in, err := sess.StdinPipe()
	if err != nil {
		return fmt.Errorf("host %s: %w", t.display, err)
	}
	script := wrapWatchdog
	if stdin != nil {
		script = wrapStdin
	}
	if err := sess.Start(wrap(script, cmdline)); err != nil {
		return &CommandError{Host: t.display, Command: command, ExitStatus: -1, Err: err}
	}
	if stdin != nil {
		go func() {
			io.Copy(in, stdin)
			in.Close()
		}()
	}
	var cancelled atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		cancelled.Store(true)
		sess.Signal(ssh.SIGTERM)
		sess.Close() // the watchdog sees the channel close if the signal was lost
	})
	err = sess.Wait()
	stop()
	if cancelled.Load() {
		return fmt.Errorf("%s: command %s: %w", t.display, command, ctx.Err())
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
