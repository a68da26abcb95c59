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
// real one over SSH (node), the simulation, in-process fakes in tests; node's
// and the simulation pass the conformance suite internal/testkit/exectest. A
// dry run (PlanGrifork) plays its forks in-process without one.
type Forker interface {
	// Fork hands child its subtree sub (sub.Root is child's copy, same ids and
	// shape) and runs grifork --on-remote there (parent is the node that forks:
	// child's parent in the tree, or the node that adopted child, see Heal),
	// calling events for every event the remote grifork reports, its own and
	// those it relays from below, one at a time. It returns once the remote grifork has ended and all its events were
	// delivered. An error means the node could not be reached, the fork could not
	// be set up, or the remote grifork died. Cancelling ctx stops the remote
	// grifork and everything it started. Safe for concurrent use.
	//
	// A Forker that starts a real process calls events with a heartbeat of
	// child when it starts the remote grifork (setting it up, shipping the
	// binary, may take longer): from then on, a child silent for the heartbeat
	// timeout has its ctx cancelled and is failed.
	//
	// ctx carries this node's Halt (HaltFrom): once it fires, the Forker
	// tells the remote grifork, whose GriforkOptions.Halt fires with the same
	// reason; nothing is stopped.
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
	Printer Printer
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
	// Heal: when a child of this node fails (its edge task, or its grifork:
	// unreachable, dead or silent), this node serves the child's children that
	// lack a copy itself, each with its own subtree (see adopt). Forks hand it on.
	Heal bool
	// Budget is max_failures, on the root: once more hosts of the tree have
	// failed than it allows, no task starts anywhere in the tree (see Halt).
	Budget FailureBudget
	// Halt, on a remote node, is its parent's word that the run halted
	// (the budget was spent): it starts no task toward a child any more, nor a
	// fork, and hands the word on to its forks. nil: none.
	Halt *Halt
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
// descendants are skipped ("parent X failed"), or re-attached with Heal; a failed
// prepare skips every host; cancellation fails what runs (with the context's
// cause, also for tasks on other nodes whose result never arrived) and skips the
// rest ("cancelled"); failures of the root's or a node's own blocks are run
// errors of the report; a result once ok or failed stays. Grifork mode adds one
// failure: a node that cannot be reached or whose grifork dies is failed (task
// "grifork"); of its descendants without a result, those whose copy was running
// are failed (their source died mid-copy), the others skipped. With a Budget,
// the root counts every failed host it hears of (and, from the end of prepare,
// those whose broadcast failed); once it is spent, no node starts a task toward
// a child or a fork (the root's forks carry the halt, see Forker): the hosts
// left are skipped with StoppedReason, running tasks end normally.
func RunGrifork(ctx context.Context, t *Tree, tasks Tasks, f Forker, opts GriforkOptions) *Report {
	g := newGriforkRun(t, tasks, f, opts, NewReport(Grifork, t))
	g.report.Heal = opts.Heal
	if opts.Remote && opts.Events == nil {
		// A caller bug; keep the run visible rather than panicking on emit.
		g.opts.Events = func(Event) {}
		g.report.AddRunError(TaskFork, g.self.Name(), errors.New("remote run without an event sink"))
	}
	g.run(ctx)
	return g.report
}

// newGriforkRun sets up the run of t's root, whose results go into report.
func newGriforkRun(t *Tree, tasks Tasks, f Forker, opts GriforkOptions, report *Report) *griforkRun {
	g := &griforkRun{
		tasks:  tasks,
		forker: f,
		opts:   opts,
		tree:   t,
		self:   t.Root,
		report: report,
		start:  report.Start,
		log:    opts.Logger,
		halt:   opts.Halt,
	}
	if g.halt == nil {
		g.halt = NewHalt()
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.budget = newBudget(opts.Budget, t.size()-1, g.halt, g.log)
	g.edge = BlockLocally
	if opts.Remote {
		g.edge = BlockRemote
	}
	return g
}

// run runs the node's part (see RunGrifork) and returns, on a remote node,
// the done event it sent last.
func (g *griforkRun) run(ctx context.Context) (done Event) {
	ctx = WithHalt(ctx, g.halt)
	opts := g.opts
	if !opts.Remote {
		observe(ctx, g.report)
	}
	first, last := BlockPrepare, BlockFinish
	if opts.Remote {
		first, last = BlockPrepareRemote, BlockFinishRemote
	}

	stopBeats := func() {}
	if opts.Remote && g.plan == nil {
		stopBeats = g.heartbeats(min(g.opts.heartbeatTimeout()/4, maxHeartbeatInterval))
	}
	var firstErr error
	switch {
	case ctx.Err() == nil:
		firstErr = g.runOwn(ctx, first)
	case opts.Remote:
		// Stopped before its own part ran, the node did not do it: its done
		// event must not say ok.
		firstErr = context.Cause(ctx)
	}
	switch {
	case firstErr != nil && ctx.Err() == nil:
		why := string(first) + " failed: " + g.oneLine(firstErr)
		if opts.Remote {
			why = string(first) + " on " + g.self.Name() + " failed: " + g.oneLine(firstErr)
		}
		walkBelow(g.self, func(n *Node) { g.skip(n, why) })
	case ctx.Err() == nil:
		var spent bool
		if g.pre, spent = g.budget.failPre(g.tasks); spent {
			g.budget.logSpent()
		}
		var wg sync.WaitGroup
		for _, c := range g.self.Children {
			if opts.Sequential {
				g.serve(ctx, c)
				continue
			}
			wg.Go(func() { g.serve(ctx, c) })
		}
		wg.Wait()
	}
	if g.pendingLeft() {
		walkBelow(g.self, g.interrupted)
	}

	duration := time.Since(g.start)
	if !g.nested {
		g.report.Duration = duration
	}
	lastErr := g.runOwn(ctx, last)
	duration = time.Since(g.start)
	if !g.nested {
		g.report.Duration = duration
	}

	if opts.Remote {
		stopBeats() // the done event is the last
		done = Event{Type: EventDone, NodeID: g.self.ID, Host: g.self.Name(), Status: StatusOK,
			Start: g.start, Duration: duration}
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
	return done
}

// pendingLeft reports whether a host below this node may have no result yet.
func (g *griforkRun) pendingLeft() bool {
	if g.nested {
		// The root's report holds other subtrees' pending hosts too; only this
		// subtree's changed meanwhile.
		return g.pendingAtStart-g.report.pendingCount() < g.tree.size()-1
	}
	return g.report.pendingCount() > 0
}

type griforkRun struct {
	tasks  Tasks
	forker Forker
	opts   GriforkOptions
	tree   *Tree
	self   *Node
	edge   Block // the block toward the children: locally on the root, remote on a node
	report *Report
	start  time.Time
	log    *slog.Logger

	// plan is set in a dry run (PlanGrifork), whose forks are played
	// in-process. nested marks the levels below its root: they read the
	// root's report, which the root's run updates from their events, and
	// pendingAtStart is its pending count when the level started.
	plan           *planFork
	nested         bool
	pendingAtStart int

	budget *budget
	halt   *Halt
	pre    map[string]string // hosts whose broadcast failed, with the reason
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
	if err != nil && !g.nested { // a nested level's reaches the root's report in its done event
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
		e.Block = taskOf(e, err) // a broadcast failure is the broadcast's, as in the summary
		g.log.Error("task failed", append(edgeAttrs(e), "error", g.oneLine(err))...)
		return
	}
	logEdge(g.log, slog.LevelInfo, "task done", e)
}

// serve runs the edge task toward child and then, when child has children of its
// own, forks grifork there. child is one of this node's children, or a node this
// node adopted (see adopt): its result's Via says which.
func (g *griforkRun) serve(ctx context.Context, child *Node) {
	if ctx.Err() != nil {
		return // skipped as cancelled by the caller
	}
	if why, halted := g.halt.Reason(); halted {
		g.notStarted(child, why)
		walkBelow(child, func(n *Node) { g.notStarted(n, why) })
		return
	}
	e := Edge{Block: g.edge, Src: g.self, Dst: child}
	if child.Parent.ID != g.self.ID { // by id: a dry run's level is a copy of its node (see planFork)
		g.log.Info("re-attached", "dst", child.Name(), "node", child.ID, "src", g.self.Name(), "failed_parent", child.Parent.Name())
	}
	start := time.Now()
	g.event(Event{Type: EventStarted, NodeID: child.ID, Host: child.Name(), Task: g.edge, Start: start})
	err := g.call(ctx, e)
	res := Result{NodeID: child.ID, Host: child.Name(), Level: child.Level, Status: StatusOK,
		Task: taskOf(e, err), Via: g.self.Name(), Start: start, Duration: time.Since(start)}
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
		res.Status, res.Err, res.ExitStatus = StatusFailed, g.oneLine(err), ExitStatus(err)
		if ctx.Err() != nil {
			res.Err = context.Cause(ctx).Error()
			g.setResult(res)
			walkBelow(child, func(n *Node) { g.skip(n, "cancelled") })
			return
		}
		g.setResult(res)
		g.lost(ctx, child, nil, "")
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
	if why, halted := g.halt.Reason(); halted {
		walkBelow(child, func(n *Node) { g.notStarted(n, why) })
		return
	}
	var f forked
	if g.plan != nil {
		f = g.plan.fork(ctx, g, child)
	} else {
		f = g.forkRemote(ctx, child)
	}
	if f.silent != nil {
		// Stopped for its silence: whatever it said before it froze stands.
		g.forkFailed(ctx, child, f.silent.Error(), f.started, f.unsettled)
		return
	}
	done := f.done
	switch {
	case ctx.Err() != nil:
		// Results in flight died with the forks; child itself has its copy.
		if f.unsettled {
			cause := context.Cause(ctx).Error()
			g.settleBelow(child, f.started, func(*Node) string { return cause }, "cancelled")
		}
	case done != nil && done.Task != TaskFork:
		// The remote grifork ran to its end; a failure of its own blocks is a run
		// error (see relay) and it skipped what that failure stopped. Anything
		// still pending was lost on the way: failed when its task had started.
		if f.unsettled {
			why := "no result reported by grifork on " + child.Name()
			g.settleBelow(child, f.started, func(*Node) string { return why }, why)
		}
	default:
		msg := "remote grifork ended without reporting its end"
		switch {
		case done != nil:
			msg = done.Err
		case f.err != nil:
			msg = g.oneLine(f.err)
		}
		g.forkFailed(ctx, child, "grifork on "+child.Name()+": "+msg, f.started, f.unsettled)
	}
}

// forked is what a fork left for its node to settle.
type forked struct {
	done   *Event   // child's done event, nil when none came
	err    error    // the Forker's
	silent *silence // set when the fork was stopped for its silence
	// unsettled: some hosts below child may have no result; started holds
	// those whose task had started, by node id (their source died mid-copy).
	unsettled bool
	started   map[string]startedTask
}

// forkRemote runs grifork on child with the Forker, relaying what it reports.
func (g *griforkRun) forkRemote(ctx context.Context, child *Node) (f forked) {
	sub, size := g.tree.subtree(child)
	// Results that settled a node below child (ids below child's extend its
	// id): when all have, the sweeps for what is left pending are skipped, since
	// they cost a lookup per node at every level of the tree.
	below, settled, prefix := size-1, 0, child.ID+"-"
	// The tasks below child that started and have no result yet, by node id:
	// their hosts were being served when the fork ended.
	started := map[string]startedTask{}
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	silent := &silence{host: child.Name(), after: g.opts.heartbeatTimeout()}
	watch := &silenceWatch{after: silent.after, fire: func() { cancel(silent) }}
	defer watch.stop()
	f.err = guard(func() error {
		return g.forker.Fork(fctx, g.self, child, sub, func(ev Event) {
			watch.heard(ev.Type == EventHeartbeat && ev.NodeID == child.ID)
			// Printing an output line waits while the console's reader is
			// slow; the child's events wait meanwhile, which is not its silence.
			defer watch.handled()
			switch {
			case ev.Type == EventHeartbeat:
				return // liveness is between a parent and its child only
			case ev.Type == EventDone && ev.NodeID == child.ID:
				d := ev
				f.done = &d
			case ev.Type == EventStarted && strings.HasPrefix(ev.NodeID, prefix):
				started[ev.NodeID] = startedTask{task: ev.Task, start: ev.Start}
			case ev.Type == EventResult:
				delete(started, ev.NodeID)
			}
			if g.relay(ev) && strings.HasPrefix(ev.NodeID, prefix) {
				settled++
			}
		})
	})
	if f.unsettled = settled < below; f.unsettled {
		f.started = started
	}
	if ctx.Err() == nil && f.done == nil && errors.Is(context.Cause(fctx), silent) {
		f.silent = silent
	}
	return f
}

// forkFailed fails child, whose grifork failed with why, and settles the hosts
// below it that are left without a result (unsettled: there may be some); started
// holds those whose task had started.
func (g *griforkRun) forkFailed(ctx context.Context, child *Node, why string, started map[string]startedTask, unsettled bool) {
	prev, _ := g.report.Get(child.ID)
	g.setResult(Result{NodeID: child.ID, Host: child.Name(), Level: child.Level, Status: StatusFailed,
		Task: TaskFork, Via: prev.Via, Start: prev.Start, Duration: prev.Duration, Err: why})
	if unsettled {
		g.lost(ctx, child, started, why)
	}
}

// lost settles the hosts below x, a node that failed, that have no result: with
// Heal this node serves them (adopt); without, those whose task had started
// (started, from x's fork) are failed, since their source died mid-copy (died
// says how), and the others skipped.
func (g *griforkRun) lost(ctx context.Context, x *Node, started map[string]startedTask, died string) {
	if g.opts.Heal && ctx.Err() == nil {
		g.adopt(ctx, x)
		return
	}
	g.settleBelow(x, started, func(n *Node) string {
		return "its source " + n.Parent.Name() + " died mid-copy: " + died
	}, "parent "+x.Name()+" failed")
}

// settleBelow gives each node below n without a result one: failed with
// failed(node) when its task had started (started), else skipped with why.
func (g *griforkRun) settleBelow(n *Node, started map[string]startedTask, failed func(*Node) string, why string) {
	walkBelow(n, func(d *Node) {
		st, ok := started[d.ID]
		if !ok {
			g.skip(d, why)
			return
		}
		if r, _ := g.report.Get(d.ID); r.Status == StatusPending {
			g.setResult(Result{NodeID: d.ID, Host: d.Name(), Level: d.Level, Status: StatusFailed,
				Task: st.task, Start: st.start, Duration: time.Since(st.start), Err: failed(d)})
		}
	})
}

// startedTask is what a fork keeps of a started event until its result: a
// small value, held in the map itself (a whole Event is allocated apart, for
// every host of the subtree at every level).
type startedTask struct {
	task  Block
	start time.Time
}

// adopt serves, in place of x (a node that failed), the hosts below x that lack
// a copy, as RunStandalone's healing does but from this node, which has the
// copy and a grifork already: each child of x without a result gets this node's
// edge task (it is re-attached here) and then its own subtree as usual; a child
// with its copy whose subtree lacks results gets its grifork again (the edge
// tasks are meant to be idempotent: rsync copies what differs); a failed child's
// own children are adopted likewise.
func (g *griforkRun) adopt(ctx context.Context, x *Node) {
	var wg sync.WaitGroup
	run := func(fn func()) {
		if g.opts.Sequential {
			fn()
			return
		}
		wg.Go(fn)
	}
	for _, c := range x.Children {
		r, _ := g.report.Get(c.ID)
		switch {
		case r.Status == StatusPending:
			run(func() { g.serve(ctx, c) })
		case r.Status == StatusOK && g.pendingBelow(c):
			g.log.Info("re-attached", "dst", c.Name(), "node", c.ID, "src", g.self.Name(), "failed_parent", x.Name(), "task", string(TaskFork))
			run(func() { g.fork(ctx, c) })
		case r.Status == StatusFailed && g.pendingBelow(c):
			run(func() { g.adopt(ctx, c) })
		}
	}
	wg.Wait()
}

// pendingBelow reports whether a node below n has no result yet.
func (g *griforkRun) pendingBelow(n *Node) bool {
	found := false
	walkBelow(n, func(d *Node) {
		if r, _ := g.report.Get(d.ID); !found && r.Status == StatusPending {
			found = true
		}
	})
	return found
}

// relay handles an event from a fork: results and run errors update the report;
// everything goes on to the parent (remote) or to the console and log (root).
// It reports whether ev settled a node that was pending.
func (g *griforkRun) relay(ev Event) (settled bool) {
	switch {
	case ev.Type == EventResult:
		// The report holds exactly this node's tree below it, with the levels
		// that events do not carry.
		found, replaced, ok := g.report.update(ev.NodeID, func(prev Result) (Result, bool) {
			res := ev.Result(prev.Level)
			return res, !kept(prev, res)
		})
		if !found {
			g.log.Warn("result for a node outside this subtree", "node", ev.NodeID, "host", ev.Host)
			return
		}
		if !replaced {
			return // nor is it passed on: the parent holds the result it keeps too
		}
		settled = ok
		if ev.Status == StatusFailed && g.budget.fail(ev.Host) {
			defer g.budget.logSpent() // after the result is passed on
		}
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
	if prev, _ := g.report.Get(res.NodeID); kept(prev, res) {
		return
	}
	if !g.nested { // a nested level's event sets it in the root's report
		g.report.Set(res)
	}
	g.event(ResultEvent(res))
	if res.Status == StatusFailed && g.budget.fail(res.Host) {
		g.budget.logSpent() // the nodes see the halt before each task toward a child and each fork
	}
}

// notStarted settles n, which no task started for, as never started because
// the run halted with why: skipped; failed when its broadcast did; ok when its
// edge has no block to run (copy: the broadcast brought its data).
func (g *griforkRun) notStarted(n *Node, why string) {
	r, failed := g.pre[n.Name()]
	noTask := !g.tasks.Defined(edgeBlock(n))
	if !failed && !noTask {
		g.skip(n, why)
		return
	}
	if prev, _ := g.report.Get(n.ID); prev.Status != StatusPending {
		return
	}
	res := Result{NodeID: n.ID, Host: n.Name(), Level: n.Level, Status: StatusOK, Task: edgeBlock(n), Via: n.Parent.Name()}
	if failed {
		res.Status, res.Task, res.Via, res.Err = StatusFailed, BlockBroadcast, "", g.opts.Redactor.String(OneLine(r))
	}
	g.setResult(res)
}

// kept reports whether a node's result prev stands against a later next: a
// finished task keeps its result, so no sweep turns an ok or failed node into a
// skipped one, and a failed node stays failed; only the node's grifork failing
// after its copy was done turns ok into failed.
func kept(prev, next Result) bool {
	switch prev.Status {
	case StatusPending, "":
		return false
	case StatusOK:
		return next.Status != StatusFailed || next.Task != TaskFork
	}
	return true
}

// interrupted settles n, left pending by a cancelled run, with what the tasks
// did for it before its edge (see Interrupter), else skipped as cancelled.
func (g *griforkRun) interrupted(n *Node) {
	if it, ok := g.tasks.(Interrupter); ok {
		if res, ok := it.Interrupted(n); ok {
			g.setResult(res) // unless n has an outcome already
			return
		}
	}
	g.skip(n, "cancelled")
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
// pushed back by every event after it. An event only notes its time, and the
// timer, when it goes off early, waits out the rest: resetting a timer for every
// event of a subtree, at every level, was a fortieth of a grifork-mode dry run.
type silenceWatch struct {
	after time.Duration
	fire  func()

	mu      sync.Mutex
	timer   *time.Timer
	last    time.Time // of the latest event
	busy    bool      // an event is being handled: the next cannot be read yet
	stopped bool
}

// heard notes an event from the fork; beat says it is the child's heartbeat.
func (w *silenceWatch) heard(beat bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.busy = true
	switch {
	case w.stopped:
	case w.timer != nil:
		w.last = time.Now()
	case beat:
		w.last = time.Now()
		w.timer = time.AfterFunc(w.after, w.check)
	}
}

// handled notes that the event heard last has been handled: the silence, if
// any, starts now.
func (w *silenceWatch) handled() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.busy = false
	if w.timer != nil && !w.stopped { // else no silence is timed (a dry run's forks send no heartbeat)
		w.last = time.Now()
	}
}

// check fires when the fork has been silent for after since its latest event,
// and otherwise waits for the rest of that.
func (w *silenceWatch) check() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	if w.busy {
		w.timer.Reset(w.after) // its silence starts when the event is handled
		w.mu.Unlock()
		return
	}
	if quiet := time.Since(w.last); quiet < w.after {
		w.timer.Reset(w.after - quiet)
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	w.fire()
}

func (w *silenceWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}
