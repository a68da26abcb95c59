package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/alecthomas/kong"
	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/dsl"
)

// Exit codes, documented in docs/cli.md ("Exit codes").
const (
	ExitOK          = 0
	ExitFailed      = 1   // some host or task failed
	ExitUsage       = 2   // bad flags, missing or broken Griforkfile
	ExitInterrupted = 130 // SIGINT/SIGTERM stopped the run
)

// CLI is the command line's grammar (github.com/alecthomas/kong): the
// sub-commands, each with its flags and its Run. cmd/grifork parses it and
// calls Execute.
type CLI struct {
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

// ExitError is an error with the exit code it ends grifork with (an error
// without one ends it with ExitFailed). A nil Err was reported already (a
// node's done event): only the code is left to give.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

func usageErr(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// Exit is the one place an error becomes an exit code: it writes err, unless
// already reported, as one line on stderr and returns its code.
func Exit(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	code := ExitFailed
	ee := (*ExitError)(nil)
	if errors.As(err, &ee) {
		code = ee.Code
		// Silent only as itself: context wrapped around it is news.
		if ee.Err == nil && err == error(ee) {
			return code
		}
	}
	fmt.Fprintf(stderr, "grifork: %v\n", err)
	return code
}

// Execute runs the command that kctx parsed from c, with the process's
// context and standard streams.
func (c *CLI) Execute(ctx context.Context, kctx *kong.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	return kctx.Run(&env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, sources: &groupSources{flags: c.Inventory}})
}
