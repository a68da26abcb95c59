package exectest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

// Secret is the password every Subject is set up with (SSHConfig.Password,
// when the implementation takes one): it must reach no Rsh.
const Secret = "exectest-Secr3t-pw"

// Subject is one implementation of core.Exec under test, with what the suite
// needs to observe it.
type Subject struct {
	Exec core.Exec
	// Host is a host that Remote reaches; Label is how its output lines and
	// errors name it (the host as written).
	Host  core.Host
	Label string
	// Runs: the implementation runs the commands (their output, exit status
	// and duration are real). An Exec that runs nothing (the dry-run
	// recorder, a simulation, a fake) fails no command of its own: what it
	// returns is its own (empty, modelled or scripted), and it records.
	Runs bool
	// Printed is what the implementation printed so far, nil if it prints
	// nothing (one that runs nothing).
	Printed func() string
	// Recorded, for an Exec that runs nothing, is what it recorded so far, in
	// order; nil if it records nothing (a simulation).
	Recorded func() []core.Step
}

// Awkward are arguments that break a command line built by hand: spaces,
// both quotes, $, backquotes, a glob, a backslash, a newline, an empty one,
// a leading dash.
var Awkward = []string{"a b", `it's`, `"q"`, "$HOME", "`id`", "*", `back\slash`, "line1\nline2", "", "-n"}

// stopBound is how long an implementation may take to return once ctx is
// cancelled (sshx's remote kill waits up to about 2s).
const stopBound = 10 * time.Second

// RunExec runs every behaviour over the Subject that newSubject sets up
// (once per behaviour, so that each sees only its own commands).
func RunExec(t *testing.T, newSubject func(t *testing.T) Subject) {
	for _, b := range []struct {
		name string
		test func(t *testing.T, s Subject)
	}{
		{"output reaches the printer with the host", outputWithHost},
		{"exit status is an error naming the host", exitStatus},
		{"arguments arrive as given", quoting},
		{"cancelling ctx stops the command", cancel},
		{"concurrent commands keep their own output", concurrent},
		{"Rsh holds no secret", rshNoSecret},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			b.test(t, newSubject(t))
		})
	}
}

func outputWithHost(t *testing.T, s Subject) {
	ctx := context.Background()
	lout, lerr := s.Exec.Local(ctx, []string{"sh", "-c", "echo local-out; echo local-err >&2"})
	rout, rerr := s.Exec.Remote(ctx, s.Host, "echo remote-out; echo remote-err >&2")
	if lerr != nil || rerr != nil {
		t.Fatalf("Local: %v, Remote: %v", lerr, rerr)
	}
	if !s.Runs {
		return
	}
	if lout != "local-out\n" || rout != "remote-out\n" {
		t.Errorf("stdout: Local %q, Remote %q; want the commands' stdout alone", lout, rout)
	}
	if s.Printed == nil {
		t.Fatal("an Exec that runs commands must print their output")
	}
	printed := s.Printed()
	for _, want := range []string{
		core.RootHost + " | local-out\n", core.RootHost + " | local-err\n",
		s.Label + " | remote-out\n", s.Label + " | remote-err\n",
	} {
		if !strings.Contains(printed, want) {
			t.Errorf("printed %q, want a line %q", printed, want)
		}
	}
}

func exitStatus(t *testing.T, s Subject) {
	ctx := context.Background()
	_, lerr := s.Exec.Local(ctx, []string{"sh", "-c", "echo why >&2; exit 4"})
	_, rerr := s.Exec.Remote(ctx, s.Host, "echo why >&2; exit 3")
	if !s.Runs {
		if lerr != nil || rerr != nil {
			t.Errorf("an Exec that runs nothing failed: %v, %v", lerr, rerr)
		}
		return
	}
	for _, tc := range []struct {
		err          error
		host, status string
	}{{lerr, core.RootHost, "4"}, {rerr, s.Label, "3"}} {
		if tc.err == nil {
			t.Errorf("exit status %s on %s: no error", tc.status, tc.host)
			continue
		}
		msg := tc.err.Error()
		if !strings.Contains(msg, tc.host) || !strings.Contains(msg, "exit status "+tc.status) || !strings.Contains(msg, "why") {
			t.Errorf("error %q; want it to name %s, exit status %s and the reason on stderr", msg, tc.host, tc.status)
		}
		if got := fmt.Sprint(core.ExitStatus(tc.err)); got != tc.status {
			t.Errorf("error %q carries exit status %s (core.ExitStatus), want %s", msg, got, tc.status)
		}
	}
}

func quoting(t *testing.T, s Subject) {
	ctx := context.Background()
	argv := append([]string{"printf", "[%s]"}, Awkward...)
	cmdline := core.ShellJoin(argv)
	lout, lerr := s.Exec.Local(ctx, argv)
	rout, rerr := s.Exec.Remote(ctx, s.Host, cmdline)
	if lerr != nil || rerr != nil {
		t.Fatalf("Local: %v, Remote: %v", lerr, rerr)
	}
	if s.Runs {
		want := "[" + strings.Join(Awkward, "][") + "]"
		if lout != want || rout != want {
			t.Errorf("Local gave %q, Remote gave %q; want %q", lout, rout, want)
		}
		return
	}
	if s.Recorded == nil {
		return
	}
	steps := s.Recorded()
	if len(steps) != 2 {
		t.Fatalf("recorded %v, want the two commands", steps)
	}
	if steps[0].Kind != core.StepLocal || !slices.Equal(steps[0].Argv, argv) {
		t.Errorf("recorded %+v, want local %q", steps[0], argv)
	}
	if steps[1].Kind != core.StepRemote || steps[1].Host.String() != s.Host.String() || steps[1].Cmdline != cmdline {
		t.Errorf("recorded %+v, want ssh %s: %s", steps[1], s.Host, cmdline)
	}
}

func cancel(t *testing.T, s Subject) {
	// A command started on an ended ctx does not run.
	ended, end := context.WithCancel(context.Background())
	end()
	start := time.Now()
	_, lerr := s.Exec.Local(ended, []string{"sleep", "60"})
	_, rerr := s.Exec.Remote(ended, s.Host, "sleep 60")
	if took := time.Since(start); took > stopBound {
		t.Errorf("on an ended ctx: returned after %v", took)
	}
	for _, err := range []error{lerr, rerr} {
		if s.Runs && !errors.Is(err, context.Canceled) || !s.Runs && err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("on an ended ctx: err = %v, want ctx's", err)
		}
	}
	if !s.Runs {
		return // nothing runs long enough to be stopped
	}
	// A running command is stopped.
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"Local", func(ctx context.Context) error { _, err := s.Exec.Local(ctx, []string{"sleep", "60"}); return err }},
		{"Remote", func(ctx context.Context) error { _, err := s.Exec.Remote(ctx, s.Host, "sleep 60"); return err }},
	} {
		ctx, stop := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		err := tc.run(ctx)
		took := time.Since(start)
		stop()
		if took > stopBound {
			t.Errorf("%s: returned %v after the start, %v after ctx ended", tc.name, took, took-300*time.Millisecond)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: err = %v, want one wrapping ctx's", tc.name, err)
		}
	}
}

func concurrent(t *testing.T, s Subject) {
	const n = 8
	var wg sync.WaitGroup
	outs, errs := make([]string, 2*n), make([]error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = s.Exec.Local(context.Background(), []string{"echo", fmt.Sprint("local ", i)})
		}()
		go func() {
			defer wg.Done()
			outs[n+i], errs[n+i] = s.Exec.Remote(context.Background(), s.Host, fmt.Sprintf("echo remote %d", i))
		}()
	}
	wg.Wait()
	for i := range 2 * n {
		want := fmt.Sprintf("local %d\n", i)
		if i >= n {
			want = fmt.Sprintf("remote %d\n", i-n)
		}
		if errs[i] != nil || s.Runs && outs[i] != want {
			t.Errorf("command %d: %q, %v; want %q", i, outs[i], errs[i], want)
		}
	}
	if s.Recorded != nil {
		if got := len(s.Recorded()); got != 2*n {
			t.Errorf("recorded %d commands, want %d", got, 2*n)
		}
	}
}

func rshNoSecret(t *testing.T, s Subject) {
	rsh := s.Exec.Rsh(s.Host)
	if rsh == "" || strings.Contains(rsh, Secret) {
		t.Errorf("Rsh = %q; want a command line without the password", rsh)
	}
	if lr, ok := s.Exec.(core.LocalRsher); ok {
		if l := lr.LocalRsh(s.Host); l == "" || strings.Contains(l, Secret) {
			t.Errorf("LocalRsh = %q; want a command line without the password", l)
		}
	}
}
