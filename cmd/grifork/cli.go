package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/dsl"
	"github.com/grifork/grifork/node"
)

// Exit codes, documented in docs/cli.md ("Exit codes").
const (
	exitOK          = 0
	exitFailed      = 1   // some host or task failed
	exitUsage       = 2   // bad flags, missing or broken Griforkfile
	exitInterrupted = 130 // SIGINT/SIGTERM stopped the run
)

// version is set at build time with -ldflags "-X main.version=..."; without it
// -v prints what the build info knows (see buildVersion).
var version = "dev"

type cli struct {
	Version   kong.VersionFlag `short:"v" help:"Print the version and exit."`
	Inventory []string         `sep:"none" placeholder:"FILE" predictor:"file" help:"Ansible inventory (INI, YAML or an executable printing JSON) whose groups -H/-x and hosts { } reach as @group, and whose ansible_host/port/user set how to reach its hosts (may repeat; with the Griforkfile's inventory { })."`

	Run        runCmd        `cmd:"" default:"withargs" help:"Run the Griforkfile's tasks across the host tree (the default command)."`
	Graph      graphCmd      `cmd:"" help:"Print the host tree the Griforkfile describes."`
	Exec       execCmd       `cmd:"" help:"Run a command on every host, without a Griforkfile."`
	Copy       copyCmd       `cmd:"" help:"Push a file or directory to every host over the tree, without a Griforkfile."`
	Convert    convertCmd    `cmd:"" help:"Convert a Ruby Griforkfile to Lua."`
	Init       initCmd       `cmd:"" help:"Write a commented starter Griforkfile.lua (never overwrites one)."`
	Completion completionCmd `cmd:"" help:"Print the shell completion script: eval \"$$(grifork completion bash)\"."`
}

// fileFlags locate the Griforkfile; shared by run and graph.
type fileFlags struct {
	File       string `short:"f" placeholder:"PATH" help:"Griforkfile to load (default: $$GRIFORKFILE, ./Griforkfile.lua, ./Griforkfile)."`
	OverrideBy string `short:"o" placeholder:"PATH" help:"Second Griforkfile whose settings replace the first's."`
}

// hostFlags select the hosts on the command line; shared by every command that runs
// or plans. Node sets hold commas, so kong must not split them.
type hostFlags struct {
	Hosts    []string `short:"H" name:"hosts" sep:"none" placeholder:"NODESET" predictor:"groups" help:"Hosts to run on, replacing the Griforkfile's (node set such as web[01-12],db1 or node groups such as @web; may repeat)."`
	Exclude  []string `short:"x" sep:"none" placeholder:"NODESET" predictor:"groups" help:"Hosts to leave out (node set; may repeat)."`
	Branches int      `short:"b" placeholder:"N" help:"Children per node, replacing the Griforkfile's branches."`
}

func (h hostFlags) selection() dsl.Selection {
	return dsl.Selection{Hosts: h.Hosts, Exclude: h.Exclude, Branches: h.Branches}
}

// progressFlag chooses the live status line; shared by run, exec and copy.
type progressFlag struct {
	Progress string `enum:"auto,always,never" default:"auto" placeholder:"WHEN" help:"Live status line at the bottom: auto (on a terminal only), always or never."`
}

// timeoutFlag bounds every command of a run; shared by run, exec and copy.
type timeoutFlag struct {
	CommandTimeout *time.Duration `placeholder:"DURATION" help:"Kill and fail any remote command, rsync or fork setup that runs longer (e.g. 10m; 0: no limit), replacing ssh { command_timeout }."`
}

// apply sets the flag, when given, into c.
func (f timeoutFlag) apply(c *core.SSHConfig) error {
	if f.CommandTimeout == nil {
		return nil
	}
	if *f.CommandTimeout < 0 {
		return usageErr(fmt.Errorf("--command-timeout must be a duration >= 0 (0: no limit), got %s", *f.CommandTimeout))
	}
	c.CommandTimeout = *f.CommandTimeout
	return nil
}

// budgetFlag is the failure budget; shared by run, exec and copy.
type budgetFlag struct {
	MaxFailures string `placeholder:"N|P%" help:"Start no new task once more than N hosts (or P% of all hosts) have failed; the hosts left are reported as not started. Replaces max_failures."`
}

// apply sets the flag, when given, into c.
func (f budgetFlag) apply(c *core.Config) error {
	if f.MaxFailures == "" {
		return nil
	}
	b, err := core.ParseFailureBudget(f.MaxFailures)
	if err != nil {
		return usageErr(fmt.Errorf("--max-failures must be a number of hosts >= 0 or a percentage from 0%% to 100%%, got %q", f.MaxFailures))
	}
	c.MaxFailures = b
	return nil
}

// reportFlags write a run's report and re-run what a report says failed.
type reportFlags struct {
	Report string `placeholder:"FILE" help:"Write the run's report as JSON to FILE (also when the run fails or is interrupted)."`
	Retry  string `placeholder:"FILE" help:"Run only the hosts that failed or were skipped in the report FILE, over a tree re-planned from them."`
}

// retryHosts reads the hosts to run again from the report of --retry; nil
// without --retry.
func (f reportFlags) retryHosts(h hostFlags) ([]core.Host, error) {
	if f.Retry == "" {
		return nil, nil
	}
	if len(h.Hosts) > 0 {
		return nil, usageErr(errors.New("--retry and -H both choose the hosts: give one"))
	}
	r, err := core.ReadReport(f.Retry)
	if err != nil {
		return nil, usageErr(fmt.Errorf("--retry: %w", err))
	}
	hosts, err := r.Retry()
	if err != nil {
		return nil, usageErr(fmt.Errorf("--retry: %s: %w", f.Retry, err))
	}
	if len(hosts) == 0 {
		return nil, usageErr(fmt.Errorf("--retry: %s: nothing to retry, every host succeeded", f.Retry))
	}
	return hosts, nil
}

// env is what a command needs from the process, injectable for tests.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// sources are the node group sources (nil: built on first use, without
	// --inventory); onNode: a grifork-mode node, which reads no hosts.
	sources *groupSources
	onNode  bool
	// hostsGiven: -H or --retry replaces the Griforkfile's hosts, which are
	// then not expanded (see dsl.Options.HostsGiven).
	hostsGiven bool
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
	if len(args) > 0 && (args[0] == node.OnRemoteFlag || args[0] == node.RelayFlag) {
		return runNode(args, stdin, stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer exitIfStuck(stderr, stopGrace)()

	var c cli
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
		fmt.Fprintf(stderr, "grifork: %v\n", err)
		return exitFailed
	}
	if complete(parser) {
		return exited
	}
	kctx, err := parseArgs(parser, args)
	if exited >= 0 {
		return exited
	}
	if err != nil {
		fmt.Fprintf(stderr, "grifork: %v\n", err)
		return exitUsage
	}
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, sources: &groupSources{flags: c.Inventory}}
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
