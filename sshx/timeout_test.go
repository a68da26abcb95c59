package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
)

// A command that runs longer than ssh { command_timeout } is killed with its
// whole process group and fails with the timeout; Start, which serves forks
// and relays, is not bounded.
func TestCommandTimeout(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	const timeout = time.Second
	for i, tc := range []struct {
		name    string
		run     func(c *Client, cmd string) error
		prefix  string // of the error
		bounded bool
	}{
		{"remote", func(c *Client, cmd string) error {
			_, err := c.Remote(context.Background(), local, cmd)
			return err
		}, "127.0.0.1: command ", true},
		{"start bounded", func(c *Client, cmd string) error {
			return c.StartBounded(context.Background(), local, cmd, bytes.NewReader(nil), nil, nil)
		}, "127.0.0.1: command ", true},
		{"local", func(c *Client, cmd string) error {
			_, err := c.Local(context.Background(), []string{"sh", "-c", cmd})
			return err
		}, "localhost: command sh -c '", true},
		{"start", func(c *Client, cmd string) error {
			return c.Start(context.Background(), local, cmd, bytes.NewReader(nil), nil, nil)
		}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newClient(t, s, func(o *Options) { o.SSH.CommandTimeout = timeout })
			// A compound command: its sleep is a grandchild of the login shell.
			marker := fmt.Sprintf("sleep 60.%d%d", os.Getpid(), i)
			cmd := marker + "; echo after"
			if !tc.bounded {
				marker = fmt.Sprintf("sleep 1.5%d%d", os.Getpid(), i)
				cmd = marker
			}
			start := time.Now()
			err := tc.run(c, cmd)
			took := time.Since(start)
			t.Logf("returned after %s: %v", took.Round(time.Millisecond), err)
			if !tc.bounded {
				if err != nil {
					t.Errorf("unbounded Start: %v", err)
				}
				return
			}
			var te *TimeoutError
			if !errors.As(err, &te) || te.After != timeout {
				t.Fatalf("err = %v, want a *TimeoutError after %s", err, timeout)
			}
			want := tc.prefix + cmd + ": timed out after 1s"
			if strings.HasSuffix(tc.prefix, "'") {
				want = tc.prefix + cmd + "': timed out after 1s"
			}
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want %q", err, want)
			}
			if took < timeout || took > timeout+3*time.Second {
				t.Errorf("returned after %s, want about %s", took, timeout)
			}
			if core.ExitStatus(err) != 0 {
				t.Errorf("exit status %d, want none", core.ExitStatus(err))
			}
			gone(t, marker)
		})
	}
}

// countingListener accepts connections and closes them at once, as sshd does
// at its MaxStartups limit.
func countingListener(t *testing.T) (port int, accepted *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted = &atomic.Int32{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, accepted
}

// A connection dropped before the handshake is tried ssh { retries } more
// times with a backoff; authentication and host-key failures only once.
func TestDialRetries(t *testing.T) {
	t.Parallel()
	intp := func(n int) *int { return &n }
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, nil, 0o600)
	for _, tc := range []struct {
		name     string
		retries  *int
		want     int32 // connections
		wantText string
	}{
		{"default", nil, 3, "(3 attempts)"},
		{"none", intp(0), 1, "handshake failed"}, // EOF or reset, as the close races the client's banner
		{"one", intp(1), 2, "(2 attempts)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port, accepted := countingListener(t)
			c, err := New(Options{SSH: core.SSHConfig{Port: port, KnownHosts: kh, Retries: tc.retries},
				ConfigFile: "none", Agent: "none"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Remote(context.Background(), local, "true")
			if err == nil || !strings.Contains(err.Error(), tc.wantText) || !strings.Contains(err.Error(), "host 127.0.0.1: ssh handshake") {
				t.Errorf("err = %v, want a handshake failure with %q", err, tc.wantText)
			}
			if n := accepted.Load(); n != tc.want {
				t.Errorf("%d connections, want %d", n, tc.want)
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		c, err := New(Options{SSH: core.SSHConfig{Port: sshdtest.FreePort(t), KnownHosts: kh}, ConfigFile: "none", Agent: "none"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Remote(context.Background(), local, "true")
		if err == nil || !strings.Contains(err.Error(), "connection refused (3 attempts)") {
			t.Errorf("err = %v, want connection refused after 3 attempts", err)
		}
	})

	s := sshdtest.Start(t, sshdtest.Opts{})
	stranger := filepath.Join(t.TempDir(), "stranger")
	sshdtest.WriteKey(t, stranger, "")
	for _, tc := range []struct {
		name string
		mod  func(*core.SSHConfig)
		want error
	}{
		{"authentication failure", func(c *core.SSHConfig) { c.Keys = []string{stranger} }, ErrAuth},
		{"unknown host key", func(c *core.SSHConfig) { c.KnownHosts = kh }, ErrUnknownHostKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: each counts the connections of the one sshd.
			cfg := s.SSHConfig()
			tc.mod(&cfg)
			c, err := New(Options{SSH: cfg, ConfigFile: "none", Agent: "none"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			before := s.Connections(t)
			_, err = c.Remote(context.Background(), local, "true")
			if !errors.Is(err, tc.want) || strings.Contains(err.Error(), "attempts") {
				t.Errorf("err = %v, want %v after one attempt", err, tc.want)
			}
			if n := s.Connections(t) - before; n != 1 {
				t.Errorf("%d connections, want 1", n)
			}
		})
	}
}

// A session that sshd refuses for lack of a channel (more than its
// MaxSessions of 10 at once) is retried ssh { retries } times, then fails.
func TestSessionRetries(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	for _, tc := range []struct {
		name    string
		retries int
		failed  int // of 12 commands at once
	}{
		// 0.75 s of backoff at most: the 10 first still run.
		{"default", core.DefaultSSHRetries, 2},
		// 3.9 s of backoff at least: the 10 first are done.
		{"enough", 5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newClient(t, s, func(o *Options) {
				o.MaxSessions = 12 // above sshd's: only its refusals bound the sessions
				o.SSH.Retries = &tc.retries
			})
			if err := c.Connect(context.Background(), local); err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 12)
			for range 12 {
				go func() {
					_, err := c.Remote(context.Background(), local, "sleep 2")
					errs <- err
				}()
			}
			failed := 0
			for range 12 {
				if err := <-errs; err != nil {
					failed++
					if !strings.Contains(err.Error(), "open ssh session") {
						t.Errorf("err = %v, want a refused session", err)
					}
				}
			}
			if failed != tc.failed {
				t.Errorf("%d commands failed, want %d", failed, tc.failed)
			}
		})
	}
}
