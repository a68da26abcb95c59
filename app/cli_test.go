package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// runCLI runs args through the CLI's grammar and Execute, as cmd/grifork's
// Main does without its signals and panics, and returns the exit code.
func runCLI(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c CLI
	p, err := kong.New(&c, kong.Name("grifork"), kong.Writers(stdout, stderr))
	if err != nil {
		return Exit(err, stderr)
	}
	kctx, err := p.Parse(args)
	if err != nil {
		return Exit(usageErr(err), stderr)
	}
	return Exit(c.Execute(context.Background(), kctx, stdin, stdout, stderr), stderr)
}

// Exit is where every error becomes its exit code and, unless reported
// already, one line on stderr.
func TestExit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    error
		code   int
		stderr string
	}{
		{"nil", nil, ExitOK, ""},
		{"plain error", errors.New("boom"), ExitFailed, "grifork: boom\n"},
		{"usage", usageErr(errors.New("bad flag")), ExitUsage, "grifork: bad flag\n"},
		{"wrapped", fmt.Errorf("ctx: %w", &ExitError{Code: ExitInterrupted, Err: errors.New("stop")}), ExitInterrupted, "grifork: ctx: stop\n"},
		{"reported already", &ExitError{Code: ExitFailed}, ExitFailed, ""},
		{"context around a reported one", fmt.Errorf("relay h1: %w", &ExitError{Code: ExitUsage}), ExitUsage, "grifork: relay h1: exit status 2\n"},
	} {
		var stderr bytes.Buffer
		if code := Exit(tc.err, &stderr); code != tc.code || stderr.String() != tc.stderr {
			t.Errorf("%s: exit %d, stderr %q; want %d, %q", tc.name, code, stderr.String(), tc.code, tc.stderr)
		}
	}
}

// The commands report their failures with the exit code they carry: a
// missing Griforkfile is a usage error, a plan whose blocks fail a failure.
func TestCommandExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gf := dir + "/Griforkfile.lua"
	write(t, gf, "hosts { \"a\", \"b\" }\nlocally(function() error(\"no\") end)\n")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"-f", dir + "/missing.lua"}, ExitUsage, "missing.lua"},
		{[]string{"graph", "-f", gf}, ExitOK, ""},
		{[]string{"-n", "-f", gf}, ExitFailed, "dry-run:"},
		{[]string{"-n", "-f", gf, "-H", "@nosuchgroup"}, ExitUsage, "nosuchgroup"},
	} {
		var stdout, stderr bytes.Buffer
		code := runCLI(tc.args, strings.NewReader(""), &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.stderr)
		}
	}
}
