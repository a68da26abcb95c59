package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/internal/testkit/sshdtest"
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

// StartScript's script runs in /bin/sh, not in the login shell, with its
// stdin or without (the watchdog's), bounded or not.
func TestStartScript(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, _ := newClient(t, s, nil)
	for _, tc := range []struct {
		name    string
		stdin   io.Reader
		bounded bool
		want    string
	}{
		{"stdin", strings.NewReader("in\n"), false, "/bin/sh in\n"},
		{"stdin, bounded", strings.NewReader("in\n"), true, "/bin/sh in\n"},
		{"no stdin", nil, false, "/bin/sh \n"},
	} {
		var stdout bytes.Buffer
		if err := c.StartScript(context.Background(), local, `read -r x; echo "$0 $x"`, tc.bounded, tc.stdin, &stdout, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if stdout.String() != tc.want {
			t.Errorf("%s: stdout %q, want %q", tc.name, stdout.String(), tc.want)
		}
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
