package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/grifork/grifork/app"
	"github.com/grifork/grifork/sshx"
)

// version is set at build time with -ldflags "-X main.version=..."; without it
// -v prints what the build info knows (see buildVersion).
var version = "dev"

func main() {
	// Called by the name of its link, grifork is the remote shell of the
	// rsyncs it starts: internal, not a subcommand.
	if filepath.Base(os.Args[0]) == sshx.RshName {
		os.Exit(sshx.RshMain(os.Args[1:]))
	}
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Main parses args, runs the command and returns the exit code (app.Exit). It
// never panics at the user: a bug becomes one line on stderr and exit code 1.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "grifork: internal error: %v\n", r)
			code = app.ExitFailed
		}
	}()
	// The node protocol of grifork mode is not a user command: it bypasses the
	// parser so that it stays out of --help.
	if app.IsNode(args) {
		return app.Exit(app.RunNode(args, stdin, stdout, stderr), stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer exitIfStuck(stderr, stopGrace)()

	var c app.CLI
	exited := -1
	info, infoOK := debug.ReadBuildInfo()
	parser, err := kong.New(&c,
		kong.Name("grifork"),
		kong.Description("Run tasks across a fleet of servers in the shape of a tree."),
		kong.Vars{"version": buildVersion(version, info, infoOK)},
		kong.Writers(stdout, stderr),
		kong.Exit(func(n int) { exited = n; panic(kongExit{}) }),
	)
	if err != nil {
		return app.Exit(err, stderr)
	}
	if complete(parser) {
		return exited
	}
	kctx, err := parseArgs(parser, args)
	if exited >= 0 {
		return exited
	}
	if err != nil {
		return app.Exit(&app.ExitError{Code: app.ExitUsage, Err: err}, stderr)
	}
	err = c.Execute(ctx, kctx, stdin, stdout, stderr)
	if ctx.Err() != nil {
		if err == nil {
			return app.ExitInterrupted
		}
		err = &app.ExitError{Code: app.ExitInterrupted, Err: fmt.Errorf("interrupted: %w", err)}
	}
	return app.Exit(err, stderr)
}

// stopGrace is how long the process may take to stop after SIGINT/SIGTERM.
const stopGrace = 2 * time.Second

// exitIfStuck ends the process with app.ExitInterrupted when, after a first
// SIGINT/SIGTERM, it has not stopped within grace, or at a second one. Cancelling
// ctx stops Lua between instructions, the scheduler and the commands; but a Go
// builtin that Lua called (a pathological string.find) never looks at ctx. The
// returned function ends the watch.
func exitIfStuck(stderr io.Writer, grace time.Duration) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "grifork: interrupted twice: exiting now")
		case <-timer.C:
			fmt.Fprintf(stderr, "grifork: interrupted: still busy %v later: exiting now\n", grace)
		case <-done:
			return
		}
		os.Exit(app.ExitInterrupted)
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// kongExit unwinds kong's help/version exits without ending the process, so Main
// stays callable from tests.
type kongExit struct{}

func parseArgs(p *kong.Kong, args []string) (kctx *kong.Context, err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(kongExit); !ok {
				panic(r)
			}
		}
	}()
	return p.Parse(args)
}

// complete answers a shell's completion request (app.Complete) and reports
// whether it did: having answered, kongplete exits through kongExit.
func complete(p *kong.Kong) (done bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(kongExit); !ok {
				panic(r)
			}
			done = true
		}
	}()
	app.Complete(p)
	return false
}
