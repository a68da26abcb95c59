package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/grifork/grifork/redact"
)

// TaskFork names, in results, the step of starting grifork on a node and hearing
// back from it; it fails when the node cannot be reached or its grifork dies.
const TaskFork Block = "grifork"

// StreamConsole marks an output event whose Line was already formatted by the
// remote's Printer ("host | text"): the root prints it as it is.
const StreamConsole = "console"

// Forker starts grifork on a child node (grifork mode). Implementations: the
// real one over SSH (sshx), the dry-run planner, in-process fakes in tests.
type Forker interface {
	// Fork hands child its subtree sub (sub.Root is child's copy, same ids and
	// shape) and runs grifork --on-remote there, calling events for every event
	// the remote grifork reports, its own and those it relays from below, one at a
	// time. It returns once the remote grifork has ended and all its events were
	// delivered. An error means the node could not be reached, the fork could not
	// be set up, or the remote grifork died. Cancelling ctx stops the remote
	// grifork and everything it started. Safe for concurrent use.
	//
	// A Forker that starts a real process calls events with a heartbeat of
	// child when it starts the remote grifork (setting it up, shipping the
	// binary, may take longer): from then on, a child silent for the heartbeat
	// timeout has its ctx cancelled and is failed.
	Fork(ctx context.Context, parent, child *Node, sub *Tree, events func(Event)) error
}

// GriforkOptions configures RunGrifork.
type GriforkOptions struct {
	// Remote is set in a grifork started by its parent (--on-remote): the tree's
	// root is this node, and prepare_remote/remote/finish_remote run instead of
	// prepare/locally/finish.
	Remote bool
	// Events receives, on a remote node, every event for the parent: this node's
	// own and those relayed from its forks. Required when Remote.
	Events func(Event)
	// Printer shows, on the root, the output lines relayed from remote nodes.
	Printer *Printer
	// Logger logs the run; nil discards.
	Logger *slog.Logger
	// Redactor removes secrets from the errors this node records and reports.
	Redactor *redact.Redactor
	// Sequential serves one child at a time, each with its whole subtree (the
	// dry run: with every task returning at once, serving all at once would only
	// hold every host's task in memory together).
	Sequential bool
	// HeartbeatTimeout is the silence after which a child's grifork is failed
	// and stopped (grifork { heartbeat_timeout }); 0: DefaultHeartbeatTimeout.
	// A remote node sends its own heartbeats at a quarter of it, 5 s at most.
	HeartbeatTimeout time.Duration
}

// DefaultHeartbeatTimeout is how long a parent waits for a word from a child's
// grifork before it takes the child for frozen.
const DefaultHeartbeatTimeout = 30 * time.Second

// maxHeartbeatInterval is how often a remote grifork says it is alive, at most.
const maxHeartbeatInterval = 5 * time.Second

func (o GriforkOptions) heartbeatTimeout() time.Duration {
	if o.HeartbeatTimeout > 0 {
		return o.HeartbeatTimeout
	}
	return DefaultHeartbeatTimeout
}

// RunGrifork runs t in grifork mode and returns the report of every host of t
// below its root. On the root: prepare; for each child concurrently, locally and
// then, if the child has children, a Fork that hands it its subtree; finish with
// the report of the whole tree, always. On a remote node: prepare_remote; for
// each child concurrently, remote and then Fork; finish_remote; a done event last.
//
// Outcomes match RunStandalone's for the same tasks: a failed node's
// descendants are skipped ("parent X failed"); a failed prepare skips every host;
// cancellation fails what runs and skips the rest ("cancelled"); failures of the
// root's or a node's own blocks are run errors of the report. Grifork mode adds
// one failure: a node that cannot be reached or whose grifork dies is failed
// (task "grifork") and its descendants without a result are skipped.
func RunGrifork(ctx context.Context, t *Tree, tasks Tasks, f Forker, opts GriforkOptions) *Report {
	g := &griforkRun{
		tasks:  tasks,
		forker: f,
		opts:   opts,
		tree:   t,
		self:   t.Root,
		report: NewReport(Grifork, t),
		log:    opts.Logger,
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if opts.Remote && opts.Events == nil {
		// A caller bug; keep the run visible rather than panicking on emit.
		g.opts.Events = func(Event) {}
		g.report.AddRunError(TaskFork, g.self.Name(), errors.New("remote run without an event sink"))
	}
	if !opts.Remote {
		observe(ctx, g.report)
	}
	first, last, edge := BlockPrepare, BlockFinish, BlockLocally
	if opts.Remote {
		first, last, edge = BlockPrepareRemote, BlockFinishRemote, BlockRemote
	}

	stopBeats := func() {}
	if opts.Remote {
		stopBeats = g.heartbeats(min(g.opts.heartbeatTimeout()/4, maxHeartbeatInterval))
	}
	var firstErr error
	if ctx.Err() == nil {
		firstErr = g.runOwn(ctx, first)
	}
	switch {
	case firstErr != nil && ctx.Err() == nil:
		why := string(first) + " failed: " + g.oneLine(firstErr)
		if opts.Remote {
			why = string(first) + " on " + g.self.Name() + " failed: " + g.oneLine(firstErr)
		}
		walkBelow(g.self, func(n *Node) { g.skip(n, why) })
	case ctx.Err() == nil:
		var wg sync.WaitGroup
		for _, c := range g.self.Children {
			if opts.Sequential {
				g.serve(ctx, c, edge)
				continue
			}
			wg.Go(func() { g.serve(ctx, c, edge) })
		}
		wg.Wait()
	}
	if g.report.pendingCount() > 0 {
		walkBelow(g.self, func(n *Node) { g.skip(n, "cancelled") })
	}

	g.report.Duration = time.Since(g.report.Start)
	lastErr := g.runOwn(ctx, last)
	g.report.Duration = time.Since(g.report.Start)

	if opts.Remote {
		stopBeats() // the done event is the last
		done := Event{Type: EventDone, NodeID: g.self.ID, Host: g.self.Name(), Status: StatusOK,
			Start: g.report.Start, Duration: g.report.Duration}
		for _, e := range []struct {
			b   Block
			err error
		}{{first, firstErr}, {last, lastErr}} {
			if e.err != nil && done.Status == StatusOK {
				done.Status, done.Task, done.Err = StatusFailed, e.b, g.oneLine(e.err)
			}
		}
		g.opts.Events(done)
	}
	return g.report
}

type griforkRun struct {
	tasks  Tasks
	forker Forker
	opts   GriforkOptions
	tree   *Tree
	self   *Node
	report *Report
	log    *slog.Logger
}

// heartbeats sends a heartbeat event every interval on a goroutine of its
// own, so a busy task never silences it, until the returned stop is called.
func (g *griforkRun) heartbeats(interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				g.opts.Events(Event{Type: EventHeartbeat, NodeID: g.self.ID, Host: g.self.Name()})
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// runOwn runs one of the blocks that concern this node alone (finish gets the
// report); a failure is a run error of the report.
func (g *griforkRun) runOwn(ctx context.Context, b Block) error {
	if !g.tasks.Defined(b) {
		return nil
	}
	err := g.call(ctx, Edge{Block: b, Src: g.self})
	if err != nil {
		g.report.AddRunError(taskOf(Edge{Block: b}, err), g.self.Name(), errors.New(g.oneLine(err)))
	}
	return err
}

// call runs a task (see runBlock) and logs its outcome.
func (g *griforkRun) call(ctx context.Context, e Edge) error {
	logEdge(g.log, slog.LevelDebug, "task started", e)
	err := runBlock(ctx, g.tasks, e, g.report)
	g.logResult(e, err)
	return err
}

func (g *griforkRun) logResult(e Edge, err error) {
	if !g.opts.Remote && e.Dst != nil {
		return // the root logs edges from their result events, like relayed ones
	}
	if err != nil {
		g.log.Error("task failed", append(edgeAttrs(e), "error", g.oneLine(err))...)
		return
	}
	logEdge(g.log, slog.LevelInfo, "task done", e)
}

// serve runs the edge task toward child and then, when child has children of its
// own, forks grifork there.
func (g *griforkRun) serve(ctx context.Context, child *Node, b Block) {
	if ctx.Err() != nil {
		return // skipped as cancelled by the caller
	}
	e := Edge{Block: b, Src: g.self, Dst: child}
	start := time.Now()
	g.event(Event{Type: EventStarted, NodeID: child.ID, Host: child.Name(), Task: b, Start: start})
	err := g.call(ctx, e)
	res := Result{NodeID: child.ID, Host: child.Name(), Level: child.Level, Status: StatusOK,
		Task: taskOf(e, err), Start: start, Duration: time.Since(start)}
	if err != nil && errors.As(err, new(*BroadcastError)) && ctx.Err() == nil {
		// The host the broadcast missed fails alone; the hosts below it have
		// their own copy of the broadcast, and its grifork serves them.
		res.Status, res.Err = StatusFailed, g.oneLine(err)
		g.setResult(res)
		if len(child.Children) > 0 {
			g.fork(ctx, child)
		}
		return
	}
	if err != nil {
		why := "parent " + child.Name() + " failed"
		res.Status, res.Err, res.ExitStatus = StatusFailed, g.oneLine(err), ExitStatus(err)
		if ctx.Err() != nil {
			why, res.Err = "cancelled", context.Cause(ctx).Error()
		}
		g.setResult(res)
		walkBelow(child, func(n *Node) { g.skip(n, why) })
		return
	}
	g.setResult(res)
	if len(child.Children) > 0 {
		g.fork(ctx, child)
	}
}

// fork runs grifork on child and turns what it reports, or its silence, into
// results for child's subtree.
func (g *griforkRun) fork(ctx context.Context, child *Node) {
	var done *Event
	sub := g.tree.Subtree(child)
	// Results that settled a node below child (ids below child's extend its
	// id): when all have, the sweeps for what is left pending are skipped, since
	// they cost a lookup per node at every level of the tree.
	below, settled, prefix := sub.size()-1, 0, child.ID+"-"
	skipBelow := func(why string) {
		if settled < below {
			walkBelow(child, func(n *Node) { g.skip(n, why) })
		}
	}
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	silent := &silence{host: child.Name(), after: g.opts.heartbeatTimeout()}
	watch := &silenceWatch{after: silent.after, fire: func() { cancel(silent) }}
	defer watch.stop()
	ferr := guard(func() error {
		return g.forker.Fork(fctx, g.self, child, sub, func(ev Event) {
			watch.heard(ev.Type == EventHeartbeat && ev.NodeID == child.ID)
			if ev.Type == EventHeartbeat {
				return // liveness is between a parent and its child only
			}
			if ev.Type == EventDone && ev.NodeID == child.ID {
				d := ev
				done = &d
			}
			if g.relay(ev) && strings.HasPrefix(ev.NodeID, prefix) {
				settled++
			}
		})
	})
	if ctx.Err() == nil && done == nil && errors.Is(context.Cause(fctx), silent) {
		// Stopped for its silence: whatever it said before it froze stands.
		prev, _ := g.report.Get(child.ID)
		g.setResult(Result{NodeID: child.ID, Host: child.Name(), Level: child.Level, Status: StatusFailed,
			Task: TaskFork, Start: prev.Start, Duration: prev.Duration, Err: silent.Error()})
		skipBelow("parent " + child.Name() + " failed")
		return
	}
	switch {
	case ctx.Err() != nil:
		// Results in flight died with the forks; child itself has its copy.
		skipBelow("cancelled")
	case done != nil && done.Task != TaskFork:
		// The remote grifork ran to its end; a failure of its own blocks is a run
		// error (see relay) and it skipped what that failure stopped. Anything
		// still pending was lost on the way.
		skipBelow("no result reported by grifork on " + child.Name())
	default:
		msg := "remote grifork ended without reporting its end"
		switch {
		case done != nil:
			msg = done.Err
		case ferr != nil:
			msg = g.oneLine(ferr)
		}
		prev, _ := g.report.Get(child.ID)
		g.setResult(Result{NodeID: child.ID, Host: child.Name(), Level: child.Level, Status: StatusFailed,
			Task: TaskFork, Start: prev.Start, Duration: prev.Duration,
			Err: "grifork on " + child.Name() + ": " + msg})
		skipBelow("parent " + child.Name() + " failed")
	}
}

// relay handles an event from a fork: results and run errors update the report;
// everything goes on to the parent (remote) or to the console and log (root).
// It reports whether ev settled a node that was pending.
func (g *griforkRun) relay(ev Event) (settled bool) {
	switch {
	case ev.Type == EventResult:
		// The report holds exactly this node's tree below it, with the levels
		// that events do not carry.
		prev, ok := g.report.Get(ev.NodeID)
		if !ok {
			g.log.Warn("result for a node outside this subtree", "node", ev.NodeID, "host", ev.Host)
			return
		}
		settled = g.report.set(ev.Result(prev.Level))
	case ev.Type == EventDone && ev.Status != StatusOK && ev.Task != TaskFork:
		g.report.AddRunError(ev.Task, ev.Host, errors.New(ev.Err))
	}
	g.event(ev)
	return settled
}

// event sends ev to the parent (remote) or shows and logs it (root).
func (g *griforkRun) event(ev Event) {
	if g.opts.Remote {
		g.opts.Events(ev)
		return
	}
	switch ev.Type {
	case EventStarted:
		// Two records per host: their attributes are built only when logged.
		if g.log.Enabled(context.Background(), slog.LevelDebug) {
			g.log.Debug("task started", "task", string(ev.Task), "dst", ev.Host, "node", ev.NodeID)
		}
	case EventResult:
		msg, level, errKey := "task done", slog.LevelInfo, ""
		switch ev.Status {
		case StatusOK:
		case StatusFailed:
			msg, level, errKey = "task failed", slog.LevelError, "error"
		default:
			msg, level, errKey = "host "+string(ev.Status), slog.LevelWarn, "reason"
		}
		if !g.log.Enabled(context.Background(), level) {
			return
		}
		args := []any{"task", string(ev.Task), "dst", ev.Host, "node", ev.NodeID, "duration", ev.Duration}
		if errKey != "" {
			args = append(args, errKey, ev.Err)
		}
		g.log.Log(context.Background(), level, msg, args...)
	case EventOutput:
		if g.opts.Printer == nil {
			return
		}
		if ev.Stream == StreamConsole {
			g.opts.Printer.Relay(ev.Line)
		} else {
			g.opts.Printer.Line(ev.Host, ev.Line)
		}
	case EventDone:
		if ev.Status == StatusOK {
			g.log.Debug("remote grifork done", "host", ev.Host, "duration", ev.Duration)
		} else {
			g.log.Error("task failed", "task", string(ev.Task), "src", ev.Host, "error", ev.Err)
		}
	}
}

func (g *griforkRun) setResult(res Result) {
	g.report.Set(res)
	g.event(ResultEvent(res))
}

// skip marks n skipped unless it already has an outcome.
func (g *griforkRun) skip(n *Node, why string) {
	if r, ok := g.report.Get(n.ID); ok && r.Status != StatusPending {
		return
	}
	g.setResult(Result{NodeID: n.ID, Host: n.Name(), Level: n.Level, Status: StatusSkipped,
		Task: edgeBlock(n), Err: why})
	g.log.Info("skipped", "host", n.Name(), "node", n.ID, "reason", why)
}

func (g *griforkRun) oneLine(err error) string {
	return g.opts.Redactor.String(OneLine(Reason(err)))
}

// silence is the cause of a fork stopped because its grifork said nothing for
// too long.
type silence struct {
	host  string
	after time.Duration
}

func (s *silence) Error() string {
	return fmt.Sprintf("no heartbeat from grifork on %s for %s", s.host, Seconds(s.after))
}

// silenceWatch calls fire once a fork has been silent for after: armed by the
// child's first heartbeat (its Forker's, when the remote grifork starts),
// reset by every event after it.
type silenceWatch struct {
	after time.Duration
	fire  func()

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

// heard notes an event from the fork; beat says it is the child's heartbeat.
func (w *silenceWatch) heard(beat bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.stopped:
	case w.timer != nil:
		w.timer.Reset(w.after)
	case beat:
		w.timer = time.AfterFunc(w.after, w.fire)
	}
}

func (w *silenceWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}
