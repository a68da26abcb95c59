package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/dsl"
	"github.com/grifork/grifork/dsl/ruby"
	"github.com/grifork/grifork/sshx"
)

type runCmd struct {
	fileFlags
	DryRun    bool `short:"n" help:"Print the tree and every command each edge would run; touch no host."`
	NoBarrier bool `help:"Start a child's subtree as soon as its own copy is done instead of waiting for the whole generation."`
	Heal      bool `help:"When a host's task fails, re-attach its children to hosts that have the data instead of skipping them (standalone mode; grifork mode ignores it)."`
}

func (c *runCmd) Run(e *env) error {
	s, err := loadScript(e, c.fileFlags, c.DryRun)
	if err != nil {
		return err
	}
	defer s.close()

	tree, err := s.tree()
	if err != nil {
		return err
	}
	if c.DryRun {
		return s.plan(e, tree)
	}
	client, err := sshx.New(sshx.Options{SSH: s.script.Config.SSH, Printer: s.printer, Logger: s.logger})
	if err != nil {
		return usageErr(fmt.Errorf("%s: ssh settings: %w", s.name, err))
	}
	defer client.Close()
	s.exec.bind(client)

	// A slow terminal drops lines (and says how many) instead of slowing the run.
	unqueue := s.printer.Queue(consoleQueue)
	s.logger.Info("run start", "file", s.name, "mode", s.script.Config.Mode, "hosts", len(s.script.Config.Hosts), "branches", s.script.Config.Branches)
	var report *core.Report
	switch s.script.Config.Mode {
	case core.Grifork:
		report = runGrifork(e, s, tree, client)
	default:
		report = core.RunStandalone(e.ctx, tree, s.script, core.RunOptions{
			Barrier: !c.NoBarrier, Heal: c.Heal, Logger: s.logger, Secrets: s.script.Config.SSH.Secrets(),
		})
	}
	unqueue()
	fmt.Fprintln(e.stdout)
	report.WriteSummary(e.stdout)
	s.logger.Info("run end", "ok", report.Count(core.StatusOK), "failed", report.Count(core.StatusFailed), "skipped", report.Count(core.StatusSkipped))
	if !report.OK() {
		return &exitError{code: exitFailed, err: errors.New(report.Headline())}
	}
	return nil
}

// Queue sizes of the console and the log, in lines: a burst as large as a
// generation of a big fleet fits; beyond that lines are dropped and counted.
const (
	consoleQueue = 16 << 10
	logQueue     = 64 << 10
)

// loaded is a Griforkfile ready to run, with the output and logging it was set up with.
type loaded struct {
	name    string
	script  *dsl.Script
	printer *core.Printer
	printed *bytes.Buffer // dry-run: what the blocks printed
	logger  *slog.Logger
	exec    *lateExec
	closers []io.Closer
}

// tree builds the host tree the Griforkfile describes.
func (s *loaded) tree() (*core.Tree, error) {
	t, err := core.BuildTree(s.script.Config.Hosts, s.script.Config.Branches)
	if err != nil {
		return nil, usageErr(fmt.Errorf("%s: %w", s.name, err))
	}
	return t, nil
}

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
	// A dry-run keeps what the blocks print for after the plan: it is what they
	// would print with every command returning empty output.
	out := e.stdout
	var printed *bytes.Buffer
	if dryRun {
		printed = &bytes.Buffer{}
		out = printed
	}
	printer := core.NewPrinter(out, nil)
	exec := &lateExec{}
	// Until the Griforkfile is read, its secrets and log settings are unknown:
	// warnings of the load go to the console as they are.
	logger := slog.New(consoleHandler(e.stderr))
	script, err := dsl.Load(e.ctx, main, override, dsl.Options{Exec: exec, Printer: printer, Logger: logger})
	if err != nil {
		return nil, usageErr(err)
	}
	cfg := script.Config
	secrets := cfg.SSH.Secrets()
	printer.AddSecrets(secrets...)
	// The log goes through a queue, so that a slow disk or terminal never
	// holds up the scheduler, which logs every task.
	errq := core.NewQueueWriter(e.stderr, logQueue, "log records")
	s := &loaded{name: main.Name, script: script, printer: printer, printed: printed, exec: exec,
		logger: slog.New(newRedactingHandler(consoleHandler(errq), secrets)), closers: []io.Closer{errq}}
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
		lq := core.NewQueueWriter(lf, logQueue, "log lines")
		s.closers = append(s.closers, lq, lf) // in this order: the queue empties into the file
		s.logger = slog.New(newRedactingHandler(slog.NewTextHandler(lq, &slog.HandlerOptions{Level: level}), secrets))
		printer.Tee(&timestamped{w: lq, now: time.Now})
	}
	script.SetLogger(s.logger)
	return s, nil
}

// readGriforkfile reads path, or for the main file the first of $GRIFORKFILE,
// ./Griforkfile.lua, ./Griforkfile that exists. A Ruby Griforkfile is converted.
func readGriforkfile(e *env, path string, lookup bool) (dsl.Source, error) {
	if path == "" && lookup {
		candidates := []string{os.Getenv("GRIFORKFILE"), "Griforkfile.lua", "Griforkfile"}
		for _, c := range candidates {
			if c == "" {
				continue
			}
			if _, err := os.Stat(c); err == nil {
				path = c
				break
			}
		}
		if path == "" {
			return dsl.Source{}, usageErr(errors.New("no Griforkfile: give one with -f PATH, $GRIFORKFILE, or create ./Griforkfile.lua"))
		}
	}
	src, err := dsl.ReadSource(path)
	if err != nil {
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

// plan prints the dry-run: the tree and every command of every edge, touching no host.
func (s *loaded) plan(e *env, tree *core.Tree) error {
	client, err := sshx.New(sshx.Options{SSH: s.script.Config.SSH, Logger: s.logger, Offline: true})
	if err != nil {
		return usageErr(fmt.Errorf("%s: ssh settings: %w", s.name, err))
	}
	defer client.Close()
	cfg := s.script.Config
	rec := core.NewRecorder(client.Rsh, cfg.SSH.Secrets())
	s.exec.bind(rec)
	var report *core.Report
	if cfg.Mode == core.Grifork {
		report = planGrifork(e, s, tree, client, rec)
		core.WriteGriforkPlan(e.stdout, tree, cfg, rec)
	} else {
		// One task at a time, in schedule order, so the plan is deterministic.
		report = core.RunStandalone(e.ctx, tree, s.script, core.RunOptions{Barrier: true, Concurrency: 1, Logger: s.logger})
		core.WritePlan(e.stdout, tree, cfg, rec)
	}
	if s.printed.Len() > 0 {
		fmt.Fprintf(e.stdout, "\noutput of the blocks (every command returned empty output):\n%s", s.printed)
	}
	if !report.OK() {
		return &exitError{code: exitFailed, err: fmt.Errorf("dry-run: %s", report.Headline())}
	}
	return nil
}
