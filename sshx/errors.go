package sshx

import (
	"errors"
	"fmt"
	"time"

	"github.com/grifork/grifork/core"
)

// Sentinel errors for failures that retrying cannot fix; callers test them with
// errors.Is and should not retry.
var (
	// ErrUnknownHostKey: the host's key is not in known_hosts (host_key_check "strict").
	ErrUnknownHostKey = errors.New("unknown host key")
	// ErrHostKeyChanged: known_hosts holds a different key for the host.
	ErrHostKeyChanged = errors.New("HOST KEY CHANGED")
	// ErrHostKeyRevoked: known_hosts marks the host's key (or its CA) @revoked.
	ErrHostKeyRevoked = errors.New("host key revoked")
	// ErrAuth: the server accepted none of the credentials offered.
	ErrAuth = errors.New("authentication failed")
)

// TimeoutError is the Err of a *CommandError for a command stopped because it
// ran longer than ssh { command_timeout }; its process group was killed.
type TimeoutError struct {
	After time.Duration
}

func (e *TimeoutError) Error() string { return "timed out after " + core.Seconds(e.After) }

// CommandError is a command that ran and failed: a non-zero exit status, a death
// by signal, a session lost before the command reported how it ended, or a
// command timeout (Err is a *TimeoutError).
// Command is shell-quoted with secrets redacted.
type CommandError struct {
	Host       string
	Command    string
	ExitStatus int    // -1 when the command reported no status
	Signal     string // e.g. "TERM" when the remote command was killed by a signal
	Stderr     string // the reason the command gave on stderr (TailWriter.Reason), redacted
	Err        error
}

func (e *CommandError) Error() string {
	switch {
	case e.Signal != "":
		return fmt.Sprintf("%s: command %s: killed by signal %s%s", e.Host, e.Command, e.Signal, StderrTail(e.Stderr))
	case e.ExitStatus >= 0:
		return fmt.Sprintf("%s: command %s: exit status %d%s", e.Host, e.Command, e.ExitStatus, StderrTail(e.Stderr))
	default:
		return fmt.Sprintf("%s: command %s: %v%s", e.Host, e.Command, e.Err, StderrTail(e.Stderr))
	}
}

func (e *CommandError) Unwrap() error { return e.Err }

// ExitCode is the command's exit status, -1 when it reported none (core.ExitStatus).
func (e *CommandError) ExitCode() int { return e.ExitStatus }

// withStderr records the reason a failed command gave on stderr in its error.
func (c *Client) withStderr(err error, tail *TailWriter) error {
	var ce *CommandError
	if errors.As(err, &ce) {
		ce.Stderr = c.redact(tail.Reason())
	}
	return err
}
