package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/grifork/grifork/adhoc"
	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/core/output"
	"github.com/grifork/grifork/dsl"
)

// adhocFlags are the settings of exec and copy that a Griforkfile would make.
type adhocFlags struct {
	File     string   `short:"f" placeholder:"PATH" help:"Griforkfile whose hosts, ssh settings, branches and mode to use (the flags win); its task blocks are not run."`
	Mode     string   `enum:"standalone,grifork," default:"" placeholder:"MODE" help:"standalone (the default) or grifork (every node runs grifork and reaches only its children)."`
	User     string   `short:"l" placeholder:"USER" help:"Login user (ssh -l)."`
	Port     int      `short:"p" placeholder:"PORT" help:"SSH port (ssh -p)."`
	Identity []string `short:"i" sep:"none" placeholder:"KEY" help:"Private key file, offered before the others (ssh -i; may repeat)."`
	DryRun   bool     `short:"n" help:"Print the tree and every command; touch no host."`
	progressFlag
	timeoutFlag
	budgetFlag
	Gather bool `short:"g" help:"Collect each host's output and print it at the end, grouped by identical output under the folded set of its hosts (as clush -b)."`
}

type execCmd struct {
	hostFlags
	adhocFlags
	reportFlags
	Command []string `arg:"" passthrough:"" placeholder:"CMD [ARGS...]" help:"The command: CMD goes to each host's shell as written (as with ssh), each of ARGS reaches it exactly."`
}

func (c *execCmd) Run(e *env) error {
	// kong's passthrough keeps the "--" that ends the flags.
	if len(c.Command) > 0 && c.Command[0] == "--" {
		c.Command = c.Command[1:]
	}
	if len(c.Command) == 0 {
		return usageErr(errors.New("exec: no command given: grifork exec -H NODESET -- CMD [ARGS...]"))
	}
	retry, err := c.retryHosts(c.hostFlags)
	if err != nil {
		return err
	}
	cfg, err := c.config(e, c.hostFlags, retry != nil)
	if err != nil {
		return err
	}
	return runAdhoc(e, "exec", adhoc.Exec(cfg, c.Command), runOptions{sel: c.selection(), retry: retry, report: c.Report, dryRun: c.DryRun, gather: c.Gather, progress: c.Progress})
}

// runAdhoc loads the generated Griforkfile src and runs it without the generation
// barrier; in standalone mode a failed host's children are re-attached, since
// the root reaches every host itself.
func runAdhoc(e *env, name string, src []byte, o runOptions) error {
	s, err := loadSources(e, dsl.Source{Name: name, Content: src}, nil, o.dryRun, nil)
	if err != nil {
		return err
	}
	defer s.close()
	o.barrier, o.heal = false, true
	return s.run(e, o)
}

// config is the Config an ad-hoc command starts from: the -f file's settings,
// then the flags.
func (f adhocFlags) config(e *env, h hostFlags, retry bool) (core.Config, error) {
	var c core.Config
	if f.File != "" {
		src, err := readGriforkfile(e, f.File, false)
		if err != nil {
			return c, err
		}
		// Only the settings are wanted: no command may run, nothing is printed.
		e.hostsGiven = len(h.Hosts) > 0 || retry
		s, err := dsl.Load(e.ctx, src, nil, e.dslOptions(output.NewPrinter(io.Discard, nil), slog.New(consoleHandler(e.stderr))))
		if err != nil {
			return c, usageErr(err)
		}
		c = s.Config
		s.Close()
		// Its broadcast is one of its tasks, which an ad-hoc command does not run.
		c.Broadcast = nil
	}
	if len(c.Hosts) == 0 && len(h.Hosts) == 0 && !retry {
		return c, usageErr(errors.New("no hosts: give them with -H NODESET or -f FILE"))
	}
	if f.Mode != "" {
		c.SwitchMode(core.Mode(f.Mode))
	}
	if f.User != "" {
		c.SSH.User = f.User
	}
	if f.Port != 0 {
		if !core.PortRange.Contains(f.Port) {
			return c, usageErr(fmt.Errorf("-p: invalid port %d", f.Port))
		}
		c.SSH.Port = f.Port
	}
	c.SSH.Keys = append(append([]string(nil), f.Identity...), c.SSH.Keys...)
	// The generated Griforkfile carries it to every node.
	if err := f.timeoutFlag.apply(&c.SSH); err != nil {
		return c, err
	}
	if err := f.budgetFlag.apply(&c); err != nil {
		return c, err
	}
	return c, nil
}
