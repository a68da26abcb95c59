package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/internal/testkit/fleet"
	"github.com/grifork/grifork/internal/testkit/testbin"
)

// griforkBin is the binary under test, built once for the package.
var griforkBin string

func TestMain(m *testing.M) {
	if os.Getenv(maxRSSEnv) != "" {
		os.Exit(maxRSSHelper()) // see runMeasured
	}
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "grifork-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if griforkBin, err = testbin.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// result is one finished grifork run.
type result struct {
	code           int
	stdout, stderr string
}

// griforkCmd is the binary with args, run in dir with env added to this
// process's environment. HOME is dir: no ~/.ssh of the machine's leaks in.
func griforkCmd(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, griforkBin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "HOME="+dir), env...)
	return cmd
}

// homeKnowsFleet gives the home dir (grifork's $HOME in runGrifork) the fleet's
// host keys in ~/.ssh/known_hosts, as an operator's home has them.
func homeKnowsFleet(t *testing.T, dir string, f *fleet.Fleet) {
	t.Helper()
	kh, err := os.ReadFile(f.KnownHostsFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".ssh", "known_hosts"), kh, 0o600); err != nil {
		t.Fatal(err)
	}
}

// runGrifork runs the binary in dir with args and returns its exit code and output.
func runGrifork(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return runGriforkEnv(t, dir, nil, args...)
}

// runGriforkEnv is runGrifork with env ("KEY=value") added to the environment.
func runGriforkEnv(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := griforkCmd(ctx, dir, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("grifork %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("grifork %s: exit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// luaList renders hosts as a Lua table constructor.
func luaList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "{ " + strings.Join(q, ", ") + " }"
}

// lockedBuffer collects a background process's output; safe to read while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// background is a grifork run that a test signals while it runs.
type background struct {
	cmd    *exec.Cmd
	out    lockedBuffer // stdout and stderr
	exited chan struct{}
}

// startGrifork starts the binary in dir; the test's cleanup kills it by PID if
// it is still running.
func startGrifork(t *testing.T, dir string, args ...string) *background {
	t.Helper()
	b := &background{cmd: griforkCmd(context.Background(), dir, nil, args...), exited: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.exited) }()
	t.Cleanup(func() {
		select {
		case <-b.exited:
		default:
			b.cmd.Process.Kill()
			<-b.exited
		}
	})
	return b
}

// interrupt sends SIGINT and waits up to within for the exit; it returns the
// exit code and how long the stop took.
func (b *background) interrupt(t *testing.T, within time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := b.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.exited:
	case <-time.After(within):
		t.Fatalf("grifork still running %v after SIGINT; output:\n%s", within, b.out.String())
	}
	took := time.Since(start)
	t.Logf("exited %v after SIGINT with %v; output:\n%s", took, b.cmd.ProcessState, b.out.String())
	return b.cmd.ProcessState.ExitCode(), took
}

// procsRunning counts host's processes whose command line starts with prefix.
func procsRunning(t *testing.T, f *fleet.Fleet, host, prefix string) int {
	t.Helper()
	procs, err := f.Procs(host)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range procs {
		if strings.HasPrefix(p.Cmdline, prefix) {
			n++
		}
	}
	return n
}

// waitProcs waits until host runs at least n processes whose command line
// starts with prefix.
func waitProcs(t *testing.T, f *fleet.Fleet, host, prefix string, n int, run *background) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for procsRunning(t, f, host, prefix) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s never ran %d of %q; output:\n%s", host, n, prefix, run.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
