package app

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/grifork/grifork/adhoc"
)

type copyCmd struct {
	hostFlags
	adhocFlags
	reportFlags
	Delete bool   `help:"Delete what DST holds and SRC does not."`
	Direct bool   `default:"true" negatable:"" help:"Stream host to host over TLS on a port each relay opens, the SSH forward as fallback; --no-direct: the SSH forward only."`
	Src    string `arg:"" placeholder:"SRC" help:"File or directory to push; a directory's contents go into DST."`
	Dst    string `arg:"" optional:"" placeholder:"DST" help:"Where it goes on every host (default: SRC's absolute path)."`
}

func (c *copyCmd) Run(e *env) error {
	if _, err := os.Stat(c.Src); err != nil {
		return usageErr(fmt.Errorf("copy: %w", err))
	}
	var err error
	if c.Dst == "" {
		if c.Dst, err = filepath.Abs(c.Src); err != nil {
			return usageErr(fmt.Errorf("copy: %w", err))
		}
	}
	retry, err := c.retryHosts(c.hostFlags)
	if err != nil {
		return err
	}
	cfg, err := c.config(e, c.hostFlags, retry != nil)
	if err != nil {
		return err
	}
	// -b shapes the broadcast's tree (a chain by default): copy has no edge blocks.
	branches := max(c.Branches, 1)
	src := adhoc.Copy(cfg, c.Src, c.Dst, c.Delete, c.Direct, branches)
	return runAdhoc(e, "copy", src, runOptions{sel: c.selection(), retry: retry, report: c.Report, dryRun: c.DryRun, gather: c.Gather, progress: c.Progress})
}
