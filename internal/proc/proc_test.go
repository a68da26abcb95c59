package proc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOutput(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		script  string
		timeout time.Duration
		want    string // the output, or "error: <text>"
	}{
		{"output", context.Background(), "echo hi; echo there", time.Minute, "hi\nthere\n"},
		{"exit with a message", context.Background(), "echo no cloud >&2; echo more >&2; exit 3", time.Minute, "error: exit status 3: no cloud"},
		{"exit without one", context.Background(), "exit 3", time.Minute, "error: exit status 3"},
		{"killed", context.Background(), "kill -9 $$", time.Minute, "error: signal: killed"},
		{"too long", context.Background(), "sleep 30", 200 * time.Millisecond, "error: ran longer than 200ms"},
		{"cancelled", cancelled, "sleep 30", time.Minute, "error: context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			out, err := Output(tt.ctx, tt.timeout, "", "/bin/sh", "-c", tt.script)
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s", took)
			}
			if want, ok := strings.CutPrefix(tt.want, "error: "); ok {
				if err == nil || err.Error() != want {
					t.Fatalf("err %v, want %q", err, want)
				}
				return
			}
			if err != nil || string(out) != tt.want {
				t.Fatalf("Output = %q, %v; want %q", out, err, tt.want)
			}
		})
	}
}

// A command that runs too long is stopped with what it started: a shell's
// background child does not outlive it (exec.CommandContext kills the shell
// alone).
func TestOutputStopsTheGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	_, err := Output(context.Background(), 300*time.Millisecond, "", "/bin/sh", "-c", "sleep 30 & echo $! > "+pidFile+"; wait")
	var te *TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("err %v, want a *TimeoutError", err)
	}
	assertGone(t, pidFile)
}

// A script that exits leaving a background child holding its output is done
// when it exits: its output and success come at once (not a timeout after
// the pipes' wait), and the child is killed.
func TestOutputLeftBehindChild(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	out, err := Output(context.Background(), time.Minute, "", "/bin/sh", "-c", "echo ok; sleep 30 & echo $! > "+pidFile)
	if err != nil || string(out) != "ok\n" {
		t.Fatalf("Output = %q, %v; want %q, nil", out, err, "ok\n")
	}
	if took := time.Since(start); took >= stopGrace {
		t.Errorf("took %s: it waited for the child", took)
	}
	assertGone(t, pidFile)
}

// assertGone fails unless the process whose PID is in pidFile ends soon.
func assertGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// Gone, or a zombie that its new parent has yet to reap.
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the shell's child %d still runs: %s", pid, stat)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
