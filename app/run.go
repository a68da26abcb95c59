package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/core/output"
	"github.com/grifork/grifork/dsl"
	"github.com/grifork/grifork/dsl/ruby"
	"github.com/grifork/grifork/internal/progress"
	"github.com/grifork/grifork/node"
	"github.com/grifork/grifork/nodeset"
	"github.com/grifork/grifork/redact"
	"github.com/grifork/grifork/sshx"
	"github.com/vbauerster/cupwriter"
)

type runCmd struct {
	fileFlags
	hostFlags
	reportFlags
	DryRun    bool `short:"n" help:"Print the tree and every command each edge would run; touch no host."`
	NoBarrier bool `help:"Start a child's subtree as soon as its own copy is done instead of waiting for the whole generation."`
	Gather    bool `short:"g" help:"Collect each host's output and print it at the end, grouped by identical output under the folded set of its hosts (as clush -b)."`
	Heal      bool `help:"When a host's task fails, re-attach its children to hosts that have the data instead of skipping them (in grifork mode, to the failed node's parent)."`
	progressFlag
	timeoutFlag
	budgetFlag
}

func (c *runCmd) Run(e *env) error {
	e.hostsGiven = len(c.Hosts) > 0 || c.Retry != ""
	s, err := loadScript(e, c.fileFlags, c.DryRun)
	if err != nil {
		return err
	}
	defer s.close()
	if err := c.timeoutFlag.apply(&s.script.Config.SSH); err != nil {
		return err
	}
	if err := c.budgetFlag.apply(&s.script.Config); err != nil {
		return err
	}
	s.commandTimeout = c.CommandTimeout
	retry, err := c.retryHosts(c.hostFlags)
	if err != nil {
		return err
	}
	return s.run(e, runOptions{sel: c.selection(), retry: retry, report: c.Report, dryRun: c.DryRun,
		barrier: !c.NoBarrier, heal: c.Heal, gather: c.Gather, progress: c.Progress})
}

// runOptions are what a command asks of a run of a loaded Griforkfile.
type runOptions struct {
	sel      dsl.Selection
	retry    []core.Host // replace the hosts, before sel
	report   string      // write the report here
	dryRun   bool
	barrier  bool
	heal     bool
	gather   bool
	progress string // progress.Auto, Always or Never
}

// run runs (or plans) the loaded Griforkfile: the one path of run, exec and copy.
func (s *loaded) run(e *env, o runOptions) error {
	if o.retry != nil {
		s.script.Config.Hosts = o.retry
	}
	tree, err := s.tree(e.ctx, o.sel)
	if err != nil {
		return err
	}
	s.heal = o.heal
	if o.dryRun {
		return s.plan(e, tree)
	}
	client, err := sshx.New(sshx.Options{SSH: s.script.Config.SSH, Output: s.printer.Writer, Label: core.OutputLabel, Logger: s.logger})
	if err != nil {
		return usageErr(fmt.Errorf("%s: ssh settings: %w", s.name, err))
	}
	defer client.Close()
	s.bind(client)
	tasks, bt, err := s.tasks(client, o.heal)
	if err != nil {
		return err
	}

	if o.gather {
		s.printer.Gather()
	}
	// Output to a file or a pipe is never dropped: a slow reader slows the
	// commands that print. A slow terminal drops lines (and says how many, on
	// stderr) instead of slowing the run.
	unqueue := s.printer.Queue(isTerminal(e.stdout), e.stderr)
	s.logger.Info("run start", "file", s.name, "mode", s.script.Config.Mode, "hosts", len(s.script.Config.Hosts), "branches", s.script.Config.Branches,
		"max_failures", s.script.Config.MaxFailures.String())
	report := s.schedule(e, tree, client, tasks, bt, o)
	if bt != nil {
		bt.Attach(report)
	}
	// What the blocks printed comes out first, whole. A run whose output or
	// summary was lost must not exit as if all was well.
	werr := unqueue()
	if o.gather {
		var order []string
		tree.Walk(func(n *core.Node) { order = append(order, n.Name()) })
		if err := s.printer.WriteGathered(e.stdout, order); err != nil {
			werr = errors.Join(werr, fmt.Errorf("-g: %w", err))
		}
	}
	fmt.Fprintln(e.stdout)
	if err := report.WriteSummary(e.stdout); err != nil {
		werr = errors.Join(werr, fmt.Errorf("write the summary: %w", err))
	}
	if o.report != "" {
		if err := report.WriteFile(o.report); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	s.logger.Info("run end", "ok", report.Count(core.StatusOK), "failed", report.Count(core.StatusFailed), "skipped", report.Count(core.StatusSkipped))
	if !report.OK() {
		return &ExitError{Code: ExitFailed, Err: errors.Join(errors.New(report.Headline()), werr)}
	}
	return werr
}

// schedule runs tree in the Griforkfile's mode, under the live status line when
// there is one.
func (s *loaded) schedule(e *env, tree *core.Tree, client *sshx.Client, tasks core.Tasks, bt *core.BroadcastTasks, o runOptions) *core.Report {
	if progress.Enabled(o.progress, e.stdout) {
		line := progress.Start(e.stdout, len(tree.Nodes())-1, tree.Depth(), o.progress == progress.Always, s.transfer)
		s.printer.SetOutput(line)
		defer func() {
			// The lines still queued go above the line before it goes.
			s.printer.SetOutput(e.stdout)
			line.Stop()
		}()
		observed := *e
		observed.ctx = core.ObserveReports(e.ctx, line.Observe)
		e = &observed
	}
	if s.script.Config.Mode == core.Grifork {
		return runGrifork(e, s, tree, client, tasks, bt)
	}
	return core.RunStandalone(e.ctx, tree, tasks, core.RunOptions{
		Barrier: o.barrier, Heal: o.heal, Logger: s.logger, Redactor: s.red, Release: client.Release,
		Budget: s.script.Config.MaxFailures,
	})
}

// logQueue is the size of the log's queues, in records: a burst as large as
// a generation of a big fleet fits; beyond that records are dropped and
// counted.
const logQueue = 64 << 10

// isTerminal reports whether w is a terminal, which a person reads and which
// may drop output lines rather than slow the run.
func isTerminal(w io.Writer) bool {
	return cupwriter.New(w, false).IsTerminal()
}

// loaded is a Griforkfile ready to run, with the output and logging it was set up with.
type loaded struct {
	name    string
	script  *dsl.Script
	printer *output.Printer
	printed *bytes.Buffer // dry-run: what the blocks printed
	logger  *slog.Logger
	red     *redact.Redactor // the run's one redactor: every output and log goes through it
	closers []io.Closer
	// commandTimeout is --command-timeout, which the Griforkfile that every
	// node loads does not hold: forks hand it on.
	commandTimeout *time.Duration
	// heal is --heal, which forks hand on too.
	heal bool
	// transfer counts the broadcast's bytes for the progress line (nil without one).
	transfer *core.Transfer
}

// tree builds the host tree the Griforkfile describes, with the hosts and
// branches the command line selects.
func (s *loaded) tree(ctx context.Context, sel dsl.Selection) (*core.Tree, error) {
	if s.script.Selected == nil {
		s.script.Selected = map[string]string{}
	}
	if err := sel.Apply(ctx, &s.script.Config, s.script.Groups, s.script.Selected); err != nil {
		return nil, usageErr(fmt.Errorf("%s: %w", s.name, err))
	}
	if len(s.script.Config.Hosts) == 0 {
		// As with `hosts {}`: a run on no host is a mistake, not a success.
		return nil, usageErr(fmt.Errorf("%s: hosts: the list is empty (there is no hosts directive; give one, or -H)", s.name))
	}
	t, err := core.BuildTree(s.script.Config.Hosts, s.script.Config.Branches)
	if err != nil {
		return nil, usageErr(fmt.Errorf("%s: %w", s.name, err))
	}
	return t, nil
}

// broadcastTree is the broadcast's own tree, nil without a broadcast { }.
func (s *loaded) broadcastTree() (*core.Tree, error) {
	b := s.script.Config.Broadcast
	if b == nil {
		return nil, nil
	}
	t, err := core.BuildTree(s.script.Config.Hosts, b.Branches)
	if err != nil {
		return nil, usageErr(fmt.Errorf("%s: broadcast: %w", s.name, err))
	}
	return t, nil
}

// tasks are the Griforkfile's blocks, with the broadcast run after prepare
// when it has one (client nil plans it).
func (s *loaded) tasks(client *sshx.Client, heal bool) (core.Tasks, *core.BroadcastTasks, error) {
	cfg := s.script.Config
	bt, err := s.broadcastTree()
	if err != nil || bt == nil {
		return s.script, nil, err
	}
	var b core.Broadcaster
	if client != nil {
		s.transfer = &core.Transfer{}
		b = node.NewBroadcaster(client, node.BroadcastOptions{Config: *cfg.Broadcast, SSH: cfg.SSH,
			Grifork: cfg.Grifork, Heal: heal, Logger: s.logger, Progress: s.transfer})
	}
	t := core.WithBroadcast(s.script, b, bt)
	return t, t, nil
}

// bind gives the script its transport, built from the settings the
// Griforkfile itself makes, and the run's logger.
func (s *loaded) bind(ex core.Exec) { s.script.Bind(ex, s.logger) }

func (s *loaded) close() {
	s.script.Close()
	for _, c := range s.closers {
		c.Close()
	}
}

// loadScript finds and loads the Griforkfile (converting a Ruby one in memory) and
// sets up the printer and the log file it asks for.
func loadScript(e *env, f fileFlags, dryRun bool) (*loaded, error) {
	main, err := readGriforkfile(e, f.File, true)
	if err != nil {
		return nil, err
	}
	var override *dsl.Source
	if f.OverrideBy != "" {
		o, err := readGriforkfile(e, f.OverrideBy, false)
		if err != nil {
			return nil, err
		}
		override = &o
	}
	return loadSources(e, main, override, dryRun, nil)
}

// loadSources loads main and override as loadScript does. secrets, when set,
// replace the Griforkfile's own (a grifork-mode node gets the root's in memory:
// its copy of the Griforkfile holds none).
func loadSources(e *env, main dsl.Source, override *dsl.Source, dryRun bool, secrets *node.Secrets) (*loaded, error) {
	// A dry-run keeps what the blocks print for after the plan: it is what they
	// would print with every command returning empty output.
	out := e.stdout
	var printed *bytes.Buffer
	if dryRun {
		printed = &bytes.Buffer{}
		out = printed
	}
	printer := output.NewPrinter(out, nil)
	// Until the Griforkfile is read, its secrets and log settings are unknown:
	// warnings of the load go to the console as they are.
	logger := slog.New(consoleHandler(e.stderr))
	script, err := dsl.Load(e.ctx, main, override, e.dslOptions(printer, logger))
	if err != nil {
		return nil, usageErr(err)
	}
	if secrets != nil {
		secrets.Apply(&script.Config.SSH)
	}
	cfg := script.Config
	red := cfg.SSH.Redactor()
	printer.SetRedactor(red)
	// The log goes through a queue, so that a slow disk or terminal never
	// holds up the scheduler, which logs every task.
	errq := output.NewQueueWriter(e.stderr, logQueue, "log records")
	s := &loaded{name: main.Name, script: script, printer: printer, printed: printed, red: red,
		logger: slog.New(red.Handler(consoleHandler(errq))), closers: []io.Closer{errq}}
	if cfg.Log.File != "" && !dryRun {
		level, err := parseLevel(cfg.Log.Level)
		if err != nil {
			s.close()
			return nil, usageErr(fmt.Errorf("%s: log: %w", main.Name, err))
		}
		lf, err := os.OpenFile(cfg.Log.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			s.close()
			return nil, usageErr(fmt.Errorf("%s: log file: %w", main.Name, err))
		}
		lq := output.NewQueueWriter(lf, logQueue, "log lines")
		s.closers = append(s.closers, lq, lf) // in this order: the queue empties into the file
		s.logger = slog.New(red.Handler(slog.NewTextHandler(lq, &slog.HandlerOptions{Level: level})))
		printer.Tee(&timestamped{w: lq, now: time.Now})
	}
	return s, nil
}

// readGriforkfile reads path, or for the main file $GRIFORKFILE when it is set,
// else the first of ./Griforkfile.lua, ./Griforkfile that exists. A Ruby
// Griforkfile is converted.
func readGriforkfile(e *env, path string, lookup bool) (dsl.Source, error) {
	fromEnv := false
	if path == "" && lookup {
		// A set $GRIFORKFILE is the Griforkfile: when it is missing, running
		// ./Griforkfile.lua instead would run the wrong file against a fleet.
		if path = os.Getenv("GRIFORKFILE"); path != "" {
			fromEnv = true
		} else {
			for _, c := range []string{"Griforkfile.lua", "Griforkfile"} {
				if _, err := os.Stat(c); err == nil {
					path = c
					break
				}
			}
		}
		if path == "" {
			return dsl.Source{}, usageErr(errors.New("no Griforkfile: give one with -f PATH, $GRIFORKFILE, or create ./Griforkfile.lua"))
		}
	}
	src, err := dsl.ReadSource(path)
	if err != nil {
		if fromEnv {
			err = fmt.Errorf("$GRIFORKFILE: %w", err)
		}
		return dsl.Source{}, usageErr(err)
	}
	if ruby.Detect(src.Content) {
		lua, err := ruby.Convert(src.Name, src.Content)
		if err != nil {
			return dsl.Source{}, usageErr(err)
		}
		fmt.Fprintf(e.stderr, "grifork: %s is a Ruby Griforkfile; running it converted (see `grifork convert %s`)\n", src.Name, src.Name)
		src.Content = lua
	}
	return src, nil
}

// writeRoutes lists the hosts that this machine reaches through a jump host
// or a ProxyCommand of its ssh_config (nothing when it reaches all directly).
// In grifork mode it reaches only its children; nodes use their own config.
func writeRoutes(w io.Writer, tree *core.Tree, childrenOnly bool, route func(core.Host) string) error {
	var lines []string
	tree.Walk(func(n *core.Node) {
		if n.IsRoot() || childrenOnly && !n.Parent.IsRoot() {
			return
		}
		if r := route(n.Host); r != "" {
			lines = append(lines, "  "+n.Host.String()+" "+r+"\n")
		}
	})
	if len(lines) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "\nroutes from this machine (its ssh_config):\n%s", strings.Join(lines, ""))
	return err
}

// writeLogins prints whom grifork logs into the hosts of cfg as, on which
// port, with which key files (and whether an agent or a password is offered):
// once when every host agrees, else one line per set of hosts that agree.
func writeLogins(w io.Writer, client *sshx.Client, cfg core.Config) error {
	if len(cfg.Hosts) == 0 {
		return nil
	}
	logins, err := client.Logins(cfg.Hosts)
	if err != nil {
		return err
	}
	var order []string
	groups := map[string][]string{}
	var k string
	for i, h := range cfg.Hosts {
		if i == 0 || !logins[i].Equal(logins[i-1]) { // hosts in a row mostly agree
			k = logins[i].String()
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], h.Name)
	}
	var b strings.Builder
	b.WriteString("\nlogin (ssh, as resolved on this machine):\n")
	if len(order) == 1 {
		fmt.Fprintf(&b, "  every host: %s\n", order[0])
	} else {
		for _, k := range order {
			fmt.Fprintf(&b, "  %s: %s\n", nodeset.Fold(groups[k]), k)
		}
	}
	if u := cfg.Grifork.User; u != "" && (cfg.Mode == core.Grifork || cfg.Broadcast != nil) {
		fmt.Fprintf(&b, "  grifork on the nodes (forks, relays): user %s\n", u)
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// plan prints the dry-run: the tree and every command of every edge, touching no host.
func (s *loaded) plan(e *env, tree *core.Tree) error {
	client, err := sshx.New(sshx.Options{SSH: s.script.Config.SSH, Logger: s.logger, Offline: true})
	if err != nil {
		return usageErr(fmt.Errorf("%s: ssh settings: %w", s.name, err))
	}
	defer client.Close()
	cfg := s.script.Config
	rec := core.NewRecorder(client.Rsh, s.red)
	rec.Grow(len(cfg.Hosts) + 2)
	rec.SetLocalRsh(client.LocalRsh)
	s.bind(rec)
	tasks, bt, err := s.tasks(nil, false)
	if err != nil {
		return err
	}
	// Whom grifork logs in as does not depend on the run: resolved for every
	// host meanwhile, on another processor (a tenth of 100,000 hosts' plan).
	var logins strings.Builder
	var loginsErr error
	loginsDone := make(chan struct{})
	go func() {
		defer close(loginsDone)
		loginsErr = writeLogins(&logins, client, cfg)
	}()
	defer func() { <-loginsDone }() // before the client closes
	var broadcast func(io.Writer) error
	if bt != nil {
		broadcast = func(w io.Writer) error {
			relay := node.NewBroadcaster(client, node.BroadcastOptions{Grifork: cfg.Grifork}).PlanCmdline()
			fi, serr := os.Lstat(cfg.Broadcast.From)
			return core.WriteBroadcastPlan(w, cfg.Broadcast, bt.Tree(), relay, serr == nil && fi.Mode().IsRegular(), node.DescribeSource(*cfg.Broadcast))
		}
	}
	var report *core.Report
	if cfg.Mode == core.Grifork {
		report = planGrifork(e, s, tree, client, rec, tasks)
		err = core.WriteGriforkPlan(e.stdout, tree, cfg, rec, broadcast)
	} else {
		// One task at a time, in schedule order, so the plan is deterministic.
		report = core.RunStandalone(e.ctx, tree, tasks, core.RunOptions{Barrier: true, Concurrency: 1, Logger: s.logger})
		err = core.WritePlan(e.stdout, tree, cfg, rec, broadcast)
	}
	if err == nil {
		err = s.writeSelected(e.stdout, tree)
	}
	if err == nil {
		err = writeRoutes(e.stdout, tree, cfg.Mode == core.Grifork && bt == nil, client.Route)
	}
	<-loginsDone
	if err == nil {
		err = loginsErr
	}
	if err == nil {
		_, err = io.WriteString(s.red.Writer(e.stdout), logins.String())
	}
	if err == nil && s.printed.Len() > 0 {
		_, err = fmt.Fprintf(e.stdout, "\noutput of the blocks (every command returned empty output):\n%s", s.printed)
	}
	if err != nil {
		return fmt.Errorf("write the plan: %w", err)
	}
	if !report.OK() {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("dry-run: %s", report.Headline())}
	}
	return nil
}
