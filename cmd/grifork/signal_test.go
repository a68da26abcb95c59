package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/app"
)

// TestInterruptRunawayLua starts grifork (the test binary, installed in $PATH by
// TestMain) on Griforkfiles that never finish, signals it, and checks that it
// ends soon with exit code 130 and one-line messages, never a goroutine dump:
// Lua that loops is stopped between instructions, and a Go builtin that runs
// for minutes (string.find) is cut short by the forced exit after stopGrace.
func TestInterruptRunawayLua(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("grifork")
	if err != nil {
		t.Fatal(err)
	}
	const (
		loop = "hosts { \"a\" }\nwhile true do end\n"
		// Backtracking over 30 ".-" takes far longer than any test: a builtin that
		// never looks at the context.
		find = "hosts { \"a\" }\nstring.find(string.rep(\"a\", 5000), string.rep(\".-\", 30) .. \"b\")\n"
		task = "hosts { \"a\" }\nlocally(function(src, dst) while true do end end)\n"
	)
	for _, tt := range []struct {
		name    string
		src     string
		signals []syscall.Signal // sent 100 ms apart
		within  time.Duration    // from the last signal to the exit
		stderr  string           // its first line starts with this
	}{
		// The bounds leave slack for a loaded CI machine running these five
		// CPU-bound processes at once under -race; the stderr line tells which
		// way out each took.
		{"loop at the top level, SIGINT", loop, []syscall.Signal{syscall.SIGINT}, 3 * time.Second, "grifork: interrupted: "},
		{"loop in a dry-run task, SIGTERM", task, []syscall.Signal{syscall.SIGTERM}, 3 * time.Second, ""},
		{"string.find, SIGINT", find, []syscall.Signal{syscall.SIGINT}, stopGrace + 3*time.Second, "grifork: interrupted: still busy 2s later: exiting now"},
		{"string.find, SIGTERM", find, []syscall.Signal{syscall.SIGTERM}, stopGrace + 3*time.Second, "grifork: interrupted: still busy 2s later: exiting now"},
		{"string.find, SIGINT twice", find, []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, 3 * time.Second, "grifork: interrupted twice: exiting now"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "Griforkfile.lua")
			if err := os.WriteFile(file, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "-n", "-f", file)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited, reaped := make(chan error, 1), make(chan struct{})
			go func() { exited <- cmd.Wait(); close(reaped) }()
			// A failed check must not leave the spinning process behind.
			t.Cleanup(func() { cmd.Process.Kill(); <-reaped })
			busyFor(t, cmd.Process.Pid, time.Second) // into the Lua code
			var last time.Time
			for i, sig := range tt.signals {
				if i > 0 {
					time.Sleep(100 * time.Millisecond)
				}
				last = time.Now()
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
			}
			var werr error
			select {
			case werr = <-exited:
			case <-time.After(tt.within + 5*time.Second):
				t.Fatalf("still running %v after the signal", time.Since(last))
			}
			took := time.Since(last)
			var ee *exec.ExitError
			if !errors.As(werr, &ee) || ee.ExitCode() != app.ExitInterrupted {
				t.Errorf("exit: %v, want code %d", werr, app.ExitInterrupted)
			}
			if took > tt.within {
				t.Errorf("exited %v after the signal, want within %v", took, tt.within)
			}
			out := stderr.String()
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") || strings.Count(out, "\n") > 2 {
				t.Errorf("stderr is not a message or two:\n%s", out)
			}
			if tt.src != find && strings.Contains(out, "still busy") {
				t.Errorf("Lua code was not stopped between instructions but by the forced exit: %q", out)
			}
			if !strings.HasPrefix(out, tt.stderr) {
				t.Errorf("stderr %q, want it to start with %q", out, tt.stderr)
			}
		})
	}
}

// busyFor waits until process pid has used cpu of CPU time: then it is past
// starting up (and past installing its signal handlers), spinning in Lua.
func busyFor(t *testing.T, pid int, cpu time.Duration) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// Fields 14 and 15, after the parenthesized command name: utime, stime.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		utime, _ := strconv.Atoi(f[11])
		stime, _ := strconv.Atoi(f[12])
		if time.Duration(utime+stime)*10*time.Millisecond >= cpu { // USER_HZ is 100
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d did not get busy", pid)
}
