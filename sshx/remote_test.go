package sshx

import (
	"context"
	"errors"
	"fmt"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

func TestRemoteOutputAndStreaming(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, out := newClient(t, s, nil)
	got, err := c.Remote(context.Background(), local, `echo one; echo two >&2; printf 'three\nfour'`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "one\nthree\nfour"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	for _, line := range []string{"127.0.0.1 | one\n", "127.0.0.1 | two\n", "127.0.0.1 | three\n", "127.0.0.1 | four\n"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("printer output lacks %q:\n%s", line, out)
		}
	}
}

func TestRemoteExitStatus(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, _ := newClient(t, s, nil)
	_, err := c.Remote(context.Background(), local, "echo failing; exit 3")
	var ce *CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *CommandError", err)
	}
	if ce.Host != "127.0.0.1" || ce.ExitStatus != 3 || ce.Command != "echo failing; exit 3" {
		t.Errorf("CommandError = %+v", ce)
	}
	if want := "127.0.0.1: command echo failing; exit 3: exit status 3"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	// The last lines on stderr say why: they go into the error.
	_, err = c.Remote(context.Background(), local, "echo first >&2; echo 'disk full' >&2; echo >&2; exit 2")
	if want := "127.0.0.1: command echo first >&2; echo 'disk full' >&2; echo >&2; exit 2: exit status 2: first; disk full"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	// Unless one names a cause: that one, however much follows.
	_, err = c.Remote(context.Background(), local, "echo 'write failed: No space left on device (28)' >&2; echo 'Broken pipe (32)' >&2; echo 'rsync error: unexplained error (code 255)' >&2; exit 12")
	if err == nil || !strings.HasSuffix(err.Error(), ": exit status 12: write failed: No space left on device (28)") {
		t.Errorf("error = %v, want the line naming the cause", err)
	}
	// A command killed by a signal that is not ours is an error too.
	_, err = c.Remote(context.Background(), local, "kill -KILL $$")
	if !errors.As(err, &ce) || ce.ExitStatus != 137 {
		t.Errorf("killed command: err = %v, want exit status 137", err)
	}
}

func TestRemoteArgumentsArriveExactly(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, _ := newClient(t, s, nil)
	pwned := filepath.Join(s.Dir, "pwned")
	args := []string{"a b", "it's", `"double"`, "x;y", "$(touch " + pwned + ")", "`touch " + pwned + "`",
		"*", `back\slash`, "tab\there", "new\nline", "", "&& touch " + pwned, "~", "$HOME"}
	got, err := c.Remote(context.Background(), local, core.ShellJoin(append([]string{"printf", "[%s]\n"}, args...)))
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, a := range args {
		fmt.Fprintf(&want, "[%s]\n", a)
	}
	if got != want.String() {
		t.Errorf("got\n%s\nwant\n%s", got, want.String())
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("an argument was run as a command")
	}
}

func TestRemoteReusesOneConnection(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, _ := newClient(t, s, nil)
	// More concurrent commands than sshd's MaxSessions (10): the session bound
	// queues them on the one connection instead of failing.
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.Remote(context.Background(), local, fmt.Sprintf("sleep 0.2; echo %d", i))
			if err == nil && got != fmt.Sprintf("%d\n", i) {
				err = fmt.Errorf("command %d returned %q", i, got)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := s.Connections(t); got != 1 {
		t.Errorf("sshd accepted %d connections for %d commands, want 1", got, n)
	}
}

// gone waits up to 5s for no process to match pattern (the sshd runs here).
func gone(t *testing.T, pattern string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := exec.Command("pgrep", "-f", pattern).Output()
		if err != nil { // pgrep exits 1 when nothing matches
			return
		}
		if time.Now().After(deadline) {
			ps, _ := exec.Command("ps", "-o", "pid,ppid,pgid,stat,args", "-p", strings.Join(strings.Fields(string(out)), ",")).Output()
			t.Fatalf("process %q still running on the server:\n%s", pattern, ps)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRunning waits until a process matches pattern (a regexp for pgrep -f).
func waitRunning(t *testing.T, pattern string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second) // a login shell's rc files can be slow
	for exec.Command("pgrep", "-f", pattern).Run() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("process %q never started", pattern)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRemoteCancelKillsRemoteCommand(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	for i, tc := range []struct {
		name string
		stop func(cancel context.CancelFunc, c *Client)
	}{
		{"cancel", func(cancel context.CancelFunc, _ *Client) { cancel() }},
		// Close drops the connection without a signal request: the watchdog acts.
		{"connection closed", func(_ context.CancelFunc, c *Client) { c.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newClient(t, s, nil)
			// A compound command: the login shell cannot exec sleep, so killing
			// only the shell would leave sleep running.
			marker := fmt.Sprintf("sleep 30.%d%d", os.Getpid(), i)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := c.Remote(ctx, local, marker+"; echo after")
				done <- err
			}()
			waitRunning(t, "^"+marker) // the command itself, not the shells around it
			start := time.Now()
			tc.stop(cancel, c)
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Remote returned no error after being stopped")
				}
				if tc.name == "cancel" && !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("Remote did not return within 3s of being stopped")
			}
			gone(t, marker)
			t.Logf("remote command gone %s after stop", time.Since(start).Round(time.Millisecond))
		})
	}
}

func TestRemoteSecretsRedacted(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	const secret = "hunter2-very-secret"
	logs := &sshdtest.SyncBuffer{}
	c, out := newClient(t, s, func(o *Options) {
		o.SSH.Password = secret
		o.Logger = slogTo(logs)
	})
	_, err := c.Remote(context.Background(), local, "echo "+secret+"; exit 1")
	if err == nil {
		t.Fatal("want an error")
	}
	for what, text := range map[string]string{"error": err.Error(), "printer": out.String(), "log": logs.String()} {
		if strings.Contains(text, secret) {
			t.Errorf("%s shows the secret: %s", what, text)
		}
		if !strings.Contains(text, "[REDACTED]") {
			t.Errorf("%s lacks [REDACTED]: %s", what, text)
		}
	}
}
