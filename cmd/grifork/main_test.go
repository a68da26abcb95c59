package main

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/script")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"grifork": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI end to end: each testdata/script/*.txtar is a scenario
// with its files, the commands and the expected output and exit codes.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Cmds:          map[string]func(*testscript.TestScript, bool, []string){"exits": exits, "cmptimed": cmpTimed},
		Setup: func(e *testscript.Env) error {
			e.Setenv("HOME", e.WorkDir)   // no real ~/.ssh/config or known_hosts leaks in
			e.Setenv("SSH_AUTH_SOCK", "") // plans say whether an agent is offered
			return nil
		},
	})
}

// exits CODE grifork ARGS... runs grifork in the script's current directory and
// checks its exact exit code; the output is kept for the stdout/stderr
// assertions that follow.
func exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	path, err := exec.LookPath(args[1])
	if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	cmd := exec.Command(path, args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = os.Environ()
	for _, kv := range []string{"HOME", "PATH", "GRIFORKFILE"} {
		cmd.Env = append(cmd.Env, kv+"="+ts.Getenv(kv))
	}
	// Where ClusterShell's configuration is looked for, when a script says.
	for _, kv := range []string{"CLUSTERSHELL_CFGDIR", "XDG_CONFIG_HOME"} {
		if v := ts.Getenv(kv); v != "" {
			cmd.Env = append(cmd.Env, kv+"="+v)
		}
	}
	cmd.Stdout, cmd.Stderr = ts.Stdout(), ts.Stderr()
	err = cmd.Run()
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

// runTime is the total time at the end of a summary's headline.
var runTime = regexp.MustCompile(`(?m) in [0-9.]+(µs|ms|s|m[0-9.]+s|h[0-9m.]+s)$`)

// cmptimed FILE compares stdout with FILE, the run's total time in the
// headline written as "in TIME".
func cmpTimed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: cmptimed FILE")
	}
	got := runTime.ReplaceAllString(ts.ReadFile("stdout"), " in TIME")
	if want := ts.ReadFile(args[0]); got != want {
		ts.Fatalf("stdout differs from %s:\n%s", args[0], got)
	}
}
