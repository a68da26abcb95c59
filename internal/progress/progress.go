package progress

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Modes of --progress.
const (
	Auto   = "auto"   // on a terminal only
	Always = "always" // also on pipes and files
	Never  = "never"
)

// Enabled reports whether mode draws the line on w.
func Enabled(mode string, w io.Writer) bool {
	switch mode {
	case Always:
		return true
	case Auto:
		return cupwriter.New(w, false).IsTerminal()
	}
	return false
}

// Line is a status line being drawn. Write prints above it.
type Line struct {
	p      *mpb.Progress
	bar    *mpb.Bar
	report atomic.Pointer[core.Report]
	depth  int
	stop   chan struct{}
	done   chan struct{}
}

// refresh is how often the line is redrawn and the report read.
const refresh = 100 * time.Millisecond

// Start draws the line on w for a run over hosts hosts in depth generations;
// force draws it although w is not a terminal. Observe gives it the run's report.
func Start(w io.Writer, hosts, depth int, force bool) *Line {
	opts := []mpb.ContainerOption{mpb.WithOutput(w), mpb.WithRefreshRate(refresh), mpb.WithWidth(100)}
	if force {
		opts = append(opts, mpb.ForceTTY(), mpb.WithAutoRefresh())
	}
	l := &Line{p: mpb.New(opts...), depth: depth, stop: make(chan struct{}), done: make(chan struct{})}
	l.bar = l.p.New(int64(hosts), mpb.BarStyle(), mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Any(l.status, decor.WC{C: decor.DindentRight})),
		mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO, decor.WC{W: 6})))
	go l.poll()
	return l
}

// Observe is the report the line shows (core.ObserveReports hands it over).
func (l *Line) Observe(r *core.Report) { l.report.Store(r) }

// Write prints b above the line.
func (l *Line) Write(b []byte) (int, error) { return l.p.Write(b) }

// Stop removes the line; what was written is on the output. Call it once.
func (l *Line) Stop() {
	close(l.stop)
	<-l.done
	// Completing (not aborting) the bar makes mpb render a last frame, which
	// prints what was written above the line before the line goes.
	l.bar.SetTotal(-1, true)
	l.p.Wait()
}

func (l *Line) poll() {
	defer close(l.done)
	t := time.NewTicker(refresh)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if r := l.report.Load(); r != nil {
				tot, _ := r.Progress()
				l.bar.SetCurrent(int64(tot.OK + tot.Failed + tot.Skipped))
			}
		}
	}
}

func (l *Line) status(decor.Statistics) string {
	r := l.report.Load()
	if r == nil {
		return "starting"
	}
	tot, gen := r.Progress()
	return Status(tot, gen, l.depth)
}

// Status is the text of the line: gen is the generation in progress (0 once
// none is pending).
func Status(t core.Totals, gen, depth int) string {
	if gen == 0 {
		gen = depth
	}
	return fmt.Sprintf("generation %d/%d  %d ok  %d failed  %d skipped  %d pending", gen, depth, t.OK, t.Failed, t.Skipped, t.Pending)
}
