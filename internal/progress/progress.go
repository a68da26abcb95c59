package progress

import (
	"fmt"
	"io"
	"sync"
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
		return isTerminal(w)
	}
	return false
}

func isTerminal(w io.Writer) bool { return cupwriter.New(w, false).IsTerminal() }

// Line is a status line being drawn. Write prints above it.
type Line struct {
	p      *mpb.Progress // nil: plain lines on a file or a pipe
	bar    *mpb.Bar
	w      io.Writer // plain: the output, written under mu
	mu     sync.Mutex
	report atomic.Pointer[core.Report]
	tr     *core.Transfer
	rate   meter
	text   atomic.Pointer[string]
	depth  int
	stop   chan struct{}
	done   chan struct{}
}

// refresh is how often the line is redrawn and the report read.
const refresh = 100 * time.Millisecond

// plainEvery is how often at most a status line is printed on output that is
// not a terminal: a line of its own each time, never redrawn in place.
const plainEvery = time.Second

// Start draws the line on w for a run over hosts hosts in depth generations;
// force draws it although w is not a terminal, as whole lines, at most one
// a second and only when it changed. Observe gives it the run's report; tr,
// when not nil, is the run's broadcast, whose bytes it shows while it runs.
func Start(w io.Writer, hosts, depth int, force bool, tr *core.Transfer) *Line {
	l := &Line{tr: tr, depth: depth, stop: make(chan struct{}), done: make(chan struct{})}
	if !isTerminal(w) && force {
		l.w = w
		go l.plain()
		return l
	}
	opts := []mpb.ContainerOption{mpb.WithOutput(w), mpb.WithRefreshRate(refresh), mpb.WithWidth(100)}
	if force {
		opts = append(opts, mpb.ForceTTY(), mpb.WithAutoRefresh())
	}
	l.p = mpb.New(opts...)
	l.bar = l.p.New(int64(hosts), mpb.BarStyle(), mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Any(l.status, decor.WC{C: decor.DindentRight})),
		mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO, decor.WC{W: 6})))
	go l.poll()
	return l
}

// Observe is the report the line shows (core.ObserveReports hands it over).
func (l *Line) Observe(r *core.Report) { l.report.Store(r) }

// Write prints b above the line.
func (l *Line) Write(b []byte) (int, error) {
	if l.p == nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.w.Write(b)
	}
	return l.p.Write(b)
}

// Stop removes the line; what was written is on the output. Call it once.
func (l *Line) Stop() {
	close(l.stop)
	<-l.done
	if l.p == nil {
		return
	}
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
		case now := <-t.C:
			l.update(now)
			if r := l.report.Load(); r != nil {
				tot, _ := r.Progress()
				l.bar.SetCurrent(int64(tot.OK + tot.Failed + tot.Skipped))
			}
		}
	}
}

// plain prints the status as a line of its own when it changed, at most every
// plainEvery: on a file or a pipe a line redrawn in place would be escape codes.
func (l *Line) plain() {
	defer close(l.done)
	t := time.NewTicker(refresh)
	defer t.Stop()
	var last string
	var at time.Time
	for {
		select {
		case <-l.stop:
			return
		case now := <-t.C:
			s := l.update(now)
			if s == "" || s == last || now.Sub(at) < plainEvery {
				continue
			}
			last, at = s, now
			l.mu.Lock()
			fmt.Fprintln(l.w, s)
			l.mu.Unlock()
		}
	}
}

// update computes the line's text at now ("" until there is something to
// show) and keeps it for the bar's decorator.
func (l *Line) update(now time.Time) string {
	var s string
	if b := l.tr.Status(); b.Phase != "" && b.Phase != core.PhaseDone {
		s = Broadcast(b, l.rate.at(now, b.Sent))
	} else if r := l.report.Load(); r != nil {
		tot, gen := r.Progress()
		s = Status(tot, gen, l.depth)
	}
	l.text.Store(&s)
	return s
}

func (l *Line) status(decor.Statistics) string {
	if s := l.text.Load(); s != nil && *s != "" {
		return *s
	}
	return "starting"
}

// Status is the text of the line: gen is the generation in progress (0 once
// none is pending).
func Status(t core.Totals, gen, depth int) string {
	if gen == 0 {
		gen = depth
	}
	return fmt.Sprintf("generation %d/%d  %d ok  %d failed  %d skipped  %d pending", gen, depth, t.OK, t.Failed, t.Skipped, t.Pending)
}

// Broadcast is the text of the line while a broadcast runs: how much of what
// the hosts lack has left the root, at rate bytes a second.
func Broadcast(s core.TransferStatus, rate float64) string {
	hosts, hold := "hosts", "hold"
	if s.Hosts == 1 { // a heal's round may resend to one
		hosts, hold = "host", "holds"
	}
	switch s.Phase {
	case core.PhaseStarting:
		return fmt.Sprintf("broadcast  starting relays on %d %s", s.Hosts, hosts)
	case core.PhaseComparing:
		return fmt.Sprintf("broadcast  comparing with what %d %s %s", s.Hosts, hosts, hold)
	}
	if s.Total == 0 {
		// No host lacks a file's content; they may still lack directories,
		// links, modes or deletions, which the manifest carries.
		return fmt.Sprintf("broadcast  nothing to send but the manifest  %d/%d hosts done", s.Done, s.Hosts)
	}
	pct := int(min(s.Sent, s.Total) * 100 / s.Total)
	return fmt.Sprintf("broadcast  sent %s of %s (%d%%)  %s/s  %d/%d hosts done", size(float64(s.Sent)), size(float64(s.Total)), pct, size(rate), s.Done, s.Hosts)
}

// size is n bytes for a person: B, then KiB, MiB, GiB, TiB with one decimal.
func size(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// rateWindow is how far back the rate looks: long enough to smooth the
// stream's bursts, short enough to follow a change of pace.
const rateWindow = 2 * time.Second

// meter is the rate of a growing count, over the last rateWindow.
type meter struct {
	samples []sample
}

type sample struct {
	at time.Time
	n  int64
}

// at records n at now and returns the count's rate per second over the
// window; a count that went down (a new round) starts afresh.
func (m *meter) at(now time.Time, n int64) float64 {
	if k := len(m.samples); k > 0 && n < m.samples[k-1].n {
		m.samples = m.samples[:0]
	}
	m.samples = append(m.samples, sample{now, n})
	for len(m.samples) > 2 && now.Sub(m.samples[1].at) >= rateWindow {
		m.samples = m.samples[1:]
	}
	first := m.samples[0]
	d := now.Sub(first.at).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(n-first.n) / d
}
