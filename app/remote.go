package app

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/dsl"
	"github.com/grifork/grifork/node"
	"github.com/grifork/grifork/sshx"
)

// RunNode is grifork started by another grifork on a node: args[0] is
// node.OnRemoteFlag (grifork mode, see node.Forker) or node.RelayFlag (a
// broadcast relay). These are not user commands, so they bypass the CLI parser
// and its help. The node protocol's version is checked first: a mismatch is
// one line on stderr (Exit), which the parent shows.
func RunNode(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	rest, err := node.CheckProtocol(args[1:])
	if err != nil {
		return usageErr(err)
	}
	if args[0] == node.RelayFlag {
		if len(rest) > 0 {
			return usageErr(fmt.Errorf("usage: grifork %s %s N", node.RelayFlag, node.ProtocolFlag))
		}
		return runRelay(stdin, stdout, stderr)
	}
	return runOnRemote(rest, stdin, stdout, stderr)
}

// IsNode reports whether args start grifork's node side (RunNode).
func IsNode(args []string) bool {
	return len(args) > 0 && (args[0] == node.OnRemoteFlag || args[0] == node.RelayFlag)
}

// newForker returns the Forker that ships s's Griforkfile(s) with this binary;
// precluded, when set, tells each child the hosts whose broadcast failed.
func newForker(s *loaded, client *sshx.Client, precluded func() map[string]string) *node.Forker {
	main, override := s.script.Sources()
	opts := node.ForkOptions{Grifork: s.script.Config.Grifork, Griforkfile: main.Content, Name: main.Name,
		Secrets: node.SecretsOf(s.script.Config.SSH), Logger: s.logger, Precluded: precluded,
		CommandTimeout: s.commandTimeout, Heal: s.heal}
	if override != nil {
		opts.Override, opts.OverrideName = override.Content, override.Name
	}
	return node.NewForker(client, opts)
}

// runGrifork runs the root of a grifork-mode run: its report covers every host.
func runGrifork(e *env, s *loaded, tree *core.Tree, client *sshx.Client, tasks core.Tasks, bt *core.BroadcastTasks) *core.Report {
	var precluded func() map[string]string
	if bt != nil {
		precluded = bt.FailedHosts
	}
	return core.RunGrifork(e.ctx, tree, tasks, newForker(s, client, precluded), core.GriforkOptions{
		Printer: s.printer, Logger: s.logger, Redactor: s.red,
		HeartbeatTimeout: s.script.Config.Grifork.HeartbeatTimeout, Heal: s.heal,
		Budget: s.script.Config.MaxFailures,
	})
}

// planGrifork is the grifork-mode dry run on rec (print it with
// core.WriteGriforkPlan): every node's blocks run on the recorder, and each fork
// is recorded with the command it would run.
func planGrifork(e *env, s *loaded, tree *core.Tree, client *sshx.Client, rec *core.Recorder, tasks core.Tasks) *core.Report {
	return core.PlanGrifork(e.ctx, tree, tasks, rec, newForker(s, client, nil).PlanCmdline, core.GriforkOptions{Logger: s.logger})
}

// runOnRemote is grifork on a node of a grifork-mode run. The first line of its
// standard input (node.Hello) holds the Griforkfile(s), by the names the root
// knows them by, and the root's secrets: no file on the node holds them. It
// removes its run directory (--run) as soon as it has read its files. Its
// standard output
// carries only events (core.Event, JSON lines) for the parent: task output goes
// into output events, and a done event ends a run that got going. A failure
// before the run (a bad tree or Griforkfile) is a done event of task "grifork",
// so the parent fails this node with the reason. It stops, as on SIGINT or
// SIGTERM, when its standard input ends (the parent is gone) or brings its
// parent's stop line, whose cause its running tasks then fail with; a halt line
// there (the failure budget is spent) stops it starting tasks.
func runOnRemote(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("grifork "+node.OnRemoteFlag, flag.ContinueOnError)
	fs.SetOutput(stderr)
	treePath := fs.String("tree", "", "the subtree of this node (JSON)")
	precludedPath := fs.String("precluded", "", "hosts whose broadcast failed (JSON: host -> reason)")
	runDir := fs.String("run", "", "this run's directory, removed once its files are read")
	heal := fs.Bool("heal", false, "the root's --heal")
	var commandTimeout *time.Duration
	fs.Func("command-timeout", "the root's --command-timeout", func(v string) error {
		d, err := time.ParseDuration(v)
		commandTimeout = &d
		return err
	})
	if err := fs.Parse(args); err != nil {
		// The flag package has said what is wrong.
		return &ExitError{Code: ExitUsage}
	}
	if *treePath == "" || fs.NArg() > 0 {
		return usageErr(fmt.Errorf("usage: grifork %s %s N --tree FILE [--precluded FILE] [--run DIR] [--command-timeout DURATION] [--heal]", node.OnRemoteFlag, node.ProtocolFlag))
	}
	// Read, the run directory is of no more use; removing it at the end too
	// covers every early return.
	removeRun := sync.OnceFunc(func() {
		if *runDir != "" {
			if err := os.RemoveAll(*runDir); err != nil {
				fmt.Fprintf(stderr, "grifork: remove %s: %v\n", *runDir, err)
			}
		}
	})
	defer removeRun()
	b, err := os.ReadFile(*treePath)
	if err != nil {
		return usageErr(err)
	}
	tree, err := core.UnmarshalTree(b)
	if err != nil {
		return usageErr(fmt.Errorf("%s: %w", *treePath, err))
	}
	self := tree.Root
	in := bufio.NewReader(stdin)
	hello, helloErr := node.ReadHello(in)
	secrets := hello.Secrets
	events := core.NewEventWriter(stdout, secrets.Redactor())
	// The done event reports the failure to the parent: the error has no
	// more to say.
	fail := func(err error) error {
		events.Emit(core.Event{Type: core.EventDone, NodeID: self.ID, Host: self.Name(),
			Status: core.StatusFailed, Task: core.TaskFork, Err: core.OneLine(err.Error())})
		return &ExitError{Code: ExitUsage}
	}
	if helloErr != nil {
		return fail(helloErr)
	}

	// A write to a parent that is gone must fail, not kill this process before
	// it has stopped what it started.
	signal.Ignore(syscall.SIGPIPE)
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, cancel := context.WithCancelCause(sigCtx)
	defer cancel(nil)
	halt := core.NewHalt()
	go func() { cancel(node.ReadStop(in, halt)) }()

	out := events.OutputWriter(self, core.StreamConsole)
	defer out.Close()
	// The root loaded the same files and showed their warnings, and every
	// failure here reaches it as an event: what would be logged to stderr would
	// come out twice there. The log file, when set, still gets everything.
	e := &env{ctx: ctx, stdin: nil, stdout: out, stderr: io.Discard, onNode: true}
	main := nodeSource(hello.Griforkfile, "Griforkfile.lua")
	var override *dsl.Source
	if hello.Override != nil {
		o := nodeSource(*hello.Override, "override.lua")
		override = &o
	}
	s, err := loadSources(e, main, override, false, &secrets)
	if err != nil {
		return fail(err)
	}
	defer s.close()
	if err := (timeoutFlag{commandTimeout}).apply(&s.script.Config.SSH); err != nil {
		return fail(err)
	}
	s.commandTimeout, s.heal = commandTimeout, *heal
	client, err := sshx.New(sshx.Options{SSH: s.script.Config.SSH, Output: s.printer.Writer, Label: core.OutputLabel, Logger: s.logger})
	if err != nil {
		return fail(fmt.Errorf("ssh settings: %w", err))
	}
	defer client.Close()
	s.bind(client)

	s.logger.Info("remote run start", "node", self.ID, "host", self.Name(), "hosts", len(tree.Nodes())-1)
	precluded := map[string]string{}
	if *precludedPath != "" {
		b, err := os.ReadFile(*precludedPath)
		if err == nil {
			err = json.Unmarshal(b, &precluded)
		}
		if err != nil {
			return fail(fmt.Errorf("read %s: %w", *precludedPath, err))
		}
	}
	removeRun()
	report := core.RunGrifork(ctx, tree, core.Precluded(s.script, precluded), newForker(s, client, func() map[string]string { return precluded }), core.GriforkOptions{
		Remote: true, Events: events.Emit, Logger: s.logger, Redactor: s.red,
		HeartbeatTimeout: s.script.Config.Grifork.HeartbeatTimeout, Heal: s.heal, Halt: halt,
	})
	s.logger.Info("remote run end", "ok", report.Count(core.StatusOK), "failed", report.Count(core.StatusFailed),
		"skipped", report.Count(core.StatusSkipped))
	// The events said how the run went.
	switch {
	case events.Err() != nil:
		return &ExitError{Code: ExitFailed}
	case ctx.Err() != nil:
		return &ExitError{Code: ExitInterrupted}
	}
	return nil
}

// nodeSource is a Griforkfile a parent sent, named in errors as the root
// knows it (or as def when the root did not say). The root converted a Ruby
// one already.
func nodeSource(f node.File, def string) dsl.Source {
	if f.Name == "" {
		f.Name = def
	}
	return dsl.Source{Name: f.Name, Content: f.Data}
}

// runRelay is a broadcast relay on a node (see node.RunRelay); the root's
// Broadcaster starts it. A signal or the root going away stops it, and it
// removes what it staged.
func runRelay(stdin io.Reader, stdout, stderr io.Writer) error {
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// The relay reports on its own standard streams.
	if code := node.RunRelay(ctx, stdin, stdout, slog.New(consoleHandler(stderr))); code != ExitOK {
		return &ExitError{Code: code}
	}
	return nil
}
