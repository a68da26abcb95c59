package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
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
}

// RunGrifork runs t in grifork mode and returns the report of every host of t
// below its root. On the root: prepare; for each child concurrently, locally and
// then, if the child has children, a Fork that hands it its subtree; finish with
// the report of the whole tree. On a remote node: prepare_remote; for each child
// concurrently, remote and then Fork; finish_remote; a done event last.
//
// The error is a failure of this node's own blocks (prepare, finish,
// prepare_remote, finish_remote); host failures are in the report.
func RunGrifork(ctx context.Context, t *Tree, tasks Tasks, f Forker, opts GriforkOptions) (*Report, error) {
	if opts.Remote && opts.Events == nil {
		return nil, errors.New("grifork: remote run without an event sink")
	}
	g := &griforkRun{
		tasks:    tasks,
		forker:   f,
		opts:     opts,
		self:     t.Root,
		report:   NewReport(Grifork, t),
		nodes:    map[string]*Node{},
		log:      opts.Logger,
		branches: t.Branches,
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	t.Walk(func(n *Node) { g.nodes[n.ID] = n })
	first, last, edge := BlockPrepare, BlockFinish, BlockLocally
	if opts.Remote {
		first, last, edge = BlockPrepareRemote, BlockFinishRemote, BlockRemote
	}

	err := g.runOwn(ctx, first)
	if err != nil {
		for _, c := range g.self.Children {
			g.skip(c, string(first)+" on "+g.self.Name()+" failed")
		}
	} else {
		var wg sync.WaitGroup
		for _, c := range g.self.Children {
			wg.Go(func() { g.serve(ctx, c, edge) })
		}
		wg.Wait()
		if opts.Remote {
			err = g.runOwn(ctx, last)
		}
	}
	g.report.Duration = time.Since(g.report.Start)

	if opts.Remote {
		done := Event{Type: EventDone, NodeID: g.self.ID, Host: g.self.Name(), Status: StatusOK,
			Start: g.report.Start, Duration: g.report.Duration}
		var be *blockError
		if errors.As(err, &be) {
			done.Status, done.Task, done.Err = StatusFailed, be.block, oneLine(be.err.Error())
		}
		opts.Events(done)
		return g.report, err
	}
	if err == nil && tasks.Defined(BlockFinish) {
		ctx := WithEdge(ctx, Edge{Block: BlockFinish, Src: g.self})
		if ferr := tasks.Finish(ctx, g.report); ferr != nil {
			err = &blockError{block: BlockFinish, host: g.self.Name(), err: ferr}
			g.log.Error("task failed", "host", g.self.Name(), "task", last, "err", ferr)
		}
	}
	return g.report, err
}

type griforkRun struct {
	tasks    Tasks
	forker   Forker
	opts     GriforkOptions
	self     *Node
	report   *Report
	nodes    map[string]*Node // this node's tree by id: the levels of relayed results
	branches int
	log      *slog.Logger
}

// blockError is the failure of one of this node's own blocks.
type blockError struct {
	block Block
	host  string
	err   error
}

func (e *blockError) Error() string { return fmt.Sprintf("%s on %s: %v", e.block, e.host, e.err) }
func (e *blockError) Unwrap() error { return e.err }

// runOwn runs one of the blocks that concern this node alone.
func (g *griforkRun) runOwn(ctx context.Context, b Block) error {
	if !g.tasks.Defined(b) {
		return nil
	}
	e := Edge{Block: b, Src: g.self}
	g.log.Info("task started", "host", g.self.Name(), "task", b)
	if err := g.tasks.Run(WithEdge(ctx, e), e); err != nil {
		g.log.Error("task failed", "host", g.self.Name(), "task", b, "err", err)
		return &blockError{block: b, host: g.self.Name(), err: err}
	}
	g.log.Info("task done", "host", g.self.Name(), "task", b)
	return nil
}

// serve runs the edge task toward child and then, when child has children of its
// own, forks grifork there.
func (g *griforkRun) serve(ctx context.Context, child *Node, b Block) {
	e := Edge{Block: b, Src: g.self, Dst: child}
	start := time.Now()
	g.event(Event{Type: EventStarted, NodeID: child.ID, Host: child.Name(), Task: b, Start: start})
	err := g.tasks.Run(WithEdge(ctx, e), e)
	res := Result{NodeID: child.ID, Host: child.Name(), Level: child.Level, Status: StatusOK,
		Task: b, Start: start, Duration: time.Since(start)}
	if err != nil {
		res.Status, res.Err = StatusFailed, oneLine(err.Error())
	}
	g.setResult(res)
	if err != nil {
		g.skipBelow(child)
		return
	}
	if len(child.Children) == 0 {
		return
	}
	g.fork(ctx, child)
}

// fork runs grifork on child and turns what it reports, or its silence, into
// results for child's subtree.
func (g *griforkRun) fork(ctx context.Context, child *Node) {
	var done *Event
	ferr := g.forker.Fork(ctx, g.self, child, subtreeOf(child, g.branches), func(ev Event) {
		if ev.Type == EventDone && ev.NodeID == child.ID {
			d := ev
			done = &d
		}
		g.relay(ev)
	})
	var failure Result
	switch {
	case done != nil && done.Status == StatusOK:
		// Every descendant should have its result by now; one without was lost.
		g.walkBelow(child, func(n *Node) {
			if r, ok := g.report.Get(n.ID); ok && r.Status == StatusPending {
				g.setResult(Result{NodeID: n.ID, Host: n.Name(), Level: n.Level, Status: StatusFailed,
					Task: TaskFork, Err: "no result reported by grifork on " + child.Name()})
			}
		})
		return
	case done != nil:
		failure = Result{Task: done.Task, Err: done.Err}
	default:
		if ferr == nil {
			ferr = errors.New("remote grifork ended without reporting its end")
		}
		failure = Result{Task: TaskFork, Err: oneLine(fmt.Sprintf("grifork on %s: %v", child.Name(), ferr))}
	}
	prev, _ := g.report.Get(child.ID)
	failure.NodeID, failure.Host, failure.Level, failure.Status = child.ID, child.Name(), child.Level, StatusFailed
	failure.Start, failure.Duration = prev.Start, prev.Duration
	g.setResult(failure)
	g.skipBelow(child)
}

// relay handles an event from a fork: results update the report; everything goes
// on to the parent (remote) or to the console and log (root).
func (g *griforkRun) relay(ev Event) {
	if ev.Type == EventResult {
		if n, ok := g.nodes[ev.NodeID]; ok {
			g.report.Set(ev.Result(n.Level))
		} else {
			g.log.Warn("result for a node outside this tree", "node", ev.NodeID, "host", ev.Host)
			return
		}
	}
	g.event(ev)
}

// event sends ev to the parent (remote) or shows and logs it (root).
func (g *griforkRun) event(ev Event) {
	if g.opts.Remote {
		g.opts.Events(ev)
		return
	}
	switch ev.Type {
	case EventStarted:
		g.log.Info("task started", "host", ev.Host, "task", ev.Task)
	case EventResult:
		args := []any{"host", ev.Host, "task", ev.Task, "status", ev.Status, "duration", ev.Duration}
		if ev.Err != "" {
			args = append(args, "err", ev.Err)
		}
		if ev.Status == StatusFailed {
			g.log.Error("task failed", args...)
		} else {
			g.log.Info("task "+string(ev.Status), args...)
		}
	case EventOutput:
		g.log.Debug("output", "host", ev.Host, "stream", ev.Stream, "line", ev.Line)
		if g.opts.Printer != nil {
			if ev.Stream == StreamConsole {
				g.opts.Printer.Line("", ev.Line)
			} else {
				g.opts.Printer.Line(ev.Host, ev.Line)
			}
		}
	case EventDone:
		args := []any{"host", ev.Host, "status", ev.Status, "duration", ev.Duration}
		if ev.Err != "" {
			args = append(args, "task", ev.Task, "err", ev.Err)
		}
		g.log.Info("remote grifork done", args...)
	}
}

func (g *griforkRun) setResult(res Result) {
	g.report.Set(res)
	g.event(ResultEvent(res))
}

// skip marks n and every node below it that has no result yet as skipped.
func (g *griforkRun) skip(n *Node, reason string) {
	for _, m := range append([]*Node{n}, descendants(n)...) {
		if r, ok := g.report.Get(m.ID); ok && r.Status != StatusPending {
			continue
		}
		g.setResult(Result{NodeID: m.ID, Host: m.Name(), Level: m.Level, Status: StatusSkipped,
			Task: edgeBlock(m), Err: reason})
	}
}

// skipBelow skips what has no result below failed.
func (g *griforkRun) skipBelow(failed *Node) {
	for _, c := range failed.Children {
		g.skip(c, "parent "+failed.Name()+" failed")
	}
}

func (g *griforkRun) walkBelow(n *Node, fn func(*Node)) {
	for _, m := range descendants(n) {
		fn(m)
	}
}

// descendants lists the nodes below n breadth-first.
func descendants(n *Node) []*Node {
	var out []*Node
	queue := append([]*Node(nil), n.Children...)
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		out = append(out, m)
		queue = append(queue, m.Children...)
	}
	return out
}

// edgeBlock is the block that brings n its copy: locally from the root, remote
// from any other parent.
func edgeBlock(n *Node) Block {
	if n.Level == 1 {
		return BlockLocally
	}
	return BlockRemote
}

// subtreeOf copies the subtree below n with the same ids, levels and shape; its
// root has no parent, as on the remote node that will run it.
func subtreeOf(n *Node, branches int) *Tree {
	var cp func(*Node, *Node) *Node
	cp = func(m, parent *Node) *Node {
		c := *m
		c.Parent = parent
		c.Children = nil
		for _, k := range m.Children {
			c.Children = append(c.Children, cp(k, &c))
		}
		return &c
	}
	return &Tree{Root: cp(n, nil), Branches: branches}
}

// oneLine keeps an error to the single line a report entry holds.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
