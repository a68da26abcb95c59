package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/internal/sshdtest"
)

func TestStart(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, printed := newClient(t, s, nil)
	var stdout, stderr bytes.Buffer
	err := c.Start(context.Background(), local, "tr a-z A-Z; echo done >&2", strings.NewReader("hello\nworld"), &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "HELLO\nWORLD" || stderr.String() != "done\n" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	if printed.String() != "" {
		t.Errorf("Start printed %q; its streams are raw", printed)
	}
	// nil streams; the exit status still counts.
	err = c.Start(context.Background(), local, "cat >/dev/null; exit 5", nil, nil, nil)
	var ce *CommandError
	if !errors.As(err, &ce) || ce.ExitStatus != 5 {
		t.Errorf("err = %v, want exit status 5", err)
	}
}

// Start has no watchdog (stdin belongs to the command): cancellation relies on
// the "signal" request alone, and must still stop the whole remote command.
func TestStartCancel(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, _ := newClient(t, s, nil)
	marker := fmt.Sprintf("sleep 30.%d9", os.Getpid())
	pr, pw := io.Pipe() // stdin that never ends: Start must not wait for it
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx, local, marker+"; echo after", pr, nil, nil) }()
	waitRunning(t, "^"+marker)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		b, _ := os.ReadFile(s.Log)
		t.Fatalf("Start did not return within 3s of cancel; sshd log:\n%s", b)
	}
	gone(t, marker)
}

// A cancelled command that is stopped (SIGSTOP: a frozen relay, which its
// login shell exec'd) ends at once, not only when the wrapper's KILL comes 5 s
// later: the TERM comes with a CONT.
func TestStartCancelStopped(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, _ := newClient(t, s, nil)
	marker := fmt.Sprintf("sleep 30.%d7", os.Getpid())
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx, local, "exec "+marker, pr, nil, nil) }()
	waitRunning(t, "^"+marker)
	out, err := exec.Command("pgrep", "-f", "^"+marker).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(out)) {
		pid, _ := strconv.Atoi(f)
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL); syscall.Kill(pid, syscall.SIGCONT) })
	}
	start := time.Now()
	cancel()
	<-done
	for exec.Command("pgrep", "-f", "^"+marker).Run() == nil {
		if time.Since(start) > 3*time.Second {
			t.Fatalf("the stopped command still runs %v after the cancel", time.Since(start).Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
