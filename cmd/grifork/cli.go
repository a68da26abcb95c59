package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
)

// Exit codes, documented in the README.
const (
	exitOK          = 0
	exitFailed      = 1   // some host or task failed
	exitUsage       = 2   // bad flags, missing or broken Griforkfile
	exitInterrupted = 130 // SIGINT/SIGTERM stopped the run
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type cli struct {
	Version kong.VersionFlag `short:"v" help:"Print the version and exit."`

	Run     runCmd     `cmd:"" default:"withargs" help:"Run the Griforkfile's tasks across the host tree (the default command)."`
	Graph   graphCmd   `cmd:"" help:"Print the host tree the Griforkfile describes."`
	Convert convertCmd `cmd:"" help:"Convert a Ruby Griforkfile to Lua."`
}

// fileFlags locate the Griforkfile; shared by run and graph.
type fileFlags struct {
	File       string `short:"f" placeholder:"PATH" help:"Griforkfile to load (default: $$GRIFORKFILE, ./Griforkfile.lua, ./Griforkfile)."`
	OverrideBy string `short:"o" placeholder:"PATH" help:"Second Griforkfile whose settings replace the first's."`
}

// env is what a command needs from the process, injectable for tests.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// exitError carries the exit code for errors the user should see in one line.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

// Main parses args, runs the command and returns the exit code. It never panics
// at the user: a bug becomes one line on stderr and exit code 1.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "grifork: internal error: %v\n", r)
			code = exitFailed
		}
	}()
	// The node protocol of grifork mode is not a user command: it bypasses the
	// parser so that it stays out of --help.
	if len(args) > 0 && args[0] == onRemoteFlag {
		return runOnRemote(args[1:], stdin, stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer exitIfStuck(stderr, stopGrace)()

	var c cli
	exited := -1
	parser, err := kong.New(&c,
		kong.Name("grifork"),
		kong.Description("Run tasks across a fleet of servers in the shape of a tree."),
		kong.Vars{"version": version},
		kong.Writers(stdout, stderr),
		kong.Exit(func(n int) { exited = n; panic(kongExit{}) }),
	)
	if err != nil {
		fmt.Fprintf(stderr, "grifork: %v\n", err)
		return exitFailed
	}
	kctx, err := parseArgs(parser, args)
	if exited >= 0 {
		return exited
	}
	if err != nil {
		fmt.Fprintf(stderr, "grifork: %v\n", err)
		return exitUsage
	}
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	if err := kctx.Run(e); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "grifork: interrupted: %v\n", err)
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "grifork: %v\n", err)
		if ee := (*exitError)(nil); errors.As(err, &ee) {
			return ee.code
		}
		return exitFailed
	}
	if ctx.Err() != nil {
		return exitInterrupted
	}
	return exitOK
}

// stopGrace is how long the process may take to stop after SIGINT/SIGTERM.
const stopGrace = 2 * time.Second

// exitIfStuck ends the process with exitInterrupted when, after a first
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
		os.Exit(exitInterrupted)
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
