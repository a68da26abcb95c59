package sshx

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/grifork/grifork/internal/sshdtest"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

func TestWriteFile(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	c, _ := newClient(t, s, nil)
	dir := t.TempDir()
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	path := filepath.Join(dir, "grifork bin")
	os.WriteFile(path, []byte("old"), 0o600)
	if err := c.WriteFile(context.Background(), local, path, 0o755, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content differs (%d bytes, want %d): %v", len(got), len(data), err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", st.Mode().Perm())
	}
	assertOnly(t, dir, "grifork bin")

	// A missing directory is an error naming the host.
	err = c.WriteFile(context.Background(), local, filepath.Join(dir, "no", "f"), 0o644, strings.NewReader("x"))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1: ") {
		t.Errorf("err = %v", err)
	}

	// Cancelled half-way: the target is untouched and no temporary file is left.
	pr, pw := io.Pipe()
	go func() { pw.Write([]byte("partial")) }()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := c.WriteFile(ctx, local, path, 0o644, pr); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	pw.Close()
	deadline := time.Now().Add(3 * time.Second)
	for names(t, dir) != "grifork bin" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	assertOnly(t, dir, "grifork bin")
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Error("a cancelled WriteFile changed the file")
	}
}

func names(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range es {
		n = append(n, e.Name())
	}
	return strings.Join(n, ",")
}

func assertOnly(t *testing.T, dir, want string) {
	t.Helper()
	if got := names(t, dir); got != want {
		t.Errorf("directory holds %q, want %q", got, want)
	}
}
