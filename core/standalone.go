package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/grifork/grifork/internal/gopool"
	"github.com/grifork/grifork/redact"
)

// RunOptions tunes a scheduler run.
type RunOptions struct {
	// Barrier makes every generation wait until the previous one is done (the
	// original's behaviour and the CLI's default). Without it a node's children
	// start as soon as the node has its copy.
	Barrier bool
	// Concurrency caps the tasks running at once; 0 means no cap. Dry-run uses 1
	// so that the order of the plan is deterministic.
	Concurrency int
	// Logger receives one record per task; nil discards.
	Logger *slog.Logger
	// Now is the clock of the report's times; nil means time.Now. It is called from
	// many goroutines.
	Now func() time.Time
	// Redactor removes secrets from the errors recorded in the report and the log.
	Redactor *redact.Redactor
	// Heal re-attaches the children of a node whose task failed to healthy nodes
	// (see RunStandalone) instead of skipping them.
	Heal bool
	// Release, when set, is called (from one goroutine) with each host that no
	// task of the run needs any more: its own edge and the edges it is the
	// source of have ended or were skipped. The SSH transport closes the host's
	// connection then, so a run holds connections only to the hosts it is still
	// working with. A host that adopts a child later (Heal) is released again.
	Release func(Host)
	// Budget is max_failures: once more hosts have failed than it allows, no
	// task starts; the hosts left are skipped with StoppedReason. The zero
	// value is no budget.
	Budget FailureBudget
}

// RunStandalone runs a standalone-mode propagation over t: prepare on the root;
// locally(root, child) for every child of the root; remote(parent, child) for every
// later node, as soon as its parent has its copy (and, with Barrier, its whole
// generation is done); finish(report) last, always. A node whose task fails is
// failed and its descendants are skipped; the other branches go on. With Heal, its
// children are re-attached instead: each gets remote(adopter, child), or
// locally(root, child) when the root is the adopter, and keeps its own subtree
// (see adopter); only prepare's failure or cancellation skips hosts. Cancelling ctx
// stops the run: tasks still pending are skipped, running ones are failed with the
// context's error once they have returned. Task and run errors go to the report
// (see Report.RunErrors), never to the caller. With a Budget, once it is spent
// (the hosts whose broadcast failed count from the end of prepare) no task
// starts: running ones end normally, the hosts left are skipped (a host whose
// broadcast failed is failed), finish runs.
func RunStandalone(ctx context.Context, t *Tree, tasks Tasks, opts RunOptions) *Report {
	gens := t.Generations()
	hosts, last := 0, t.Root.Index
	for _, g := range gens {
		hosts += len(g)
		for _, n := range g {
			last = max(last, n.Index)
		}
	}
	s := &standalone{
		t: t, tasks: tasks, opts: opts,
		state: make([]nodeState, last+1),
		added: map[*Node]int{},
		via:   map[*Node]*Node{},
		// Room for every host's completion: a task's goroutine is then free for
		// the next task as soon as its own returns, even while the loop is busy
		// starting a generation of 75,000 (a goroutine each, and their stacks,
		// when each waited for the loop).
		done: make(chan completion, hosts),
		open: 1,
		halt: NewHalt(),
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	s.log = opts.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.budget = newBudget(opts.Budget, hosts, s.halt, s.log)
	quit := make(chan struct{})
	defer close(quit)
	s.workers = gopool.New(quit, maxIdleWorkers)
	s.report = NewReport(Standalone, t)
	s.report.Start = s.opts.Now()
	s.report.Heal = opts.Heal
	observe(ctx, s.report)
	s.unsettled = make([]int, len(gens))
	for i, g := range gens {
		s.unsettled[i] = len(g)
	}

	root := t.Root
	var prepErr error
	if ctx.Err() == nil {
		prepErr = s.call(ctx, Edge{Block: BlockPrepare, Src: root})
	}
	switch {
	case prepErr != nil:
		s.report.AddRunError(taskOf(Edge{Block: BlockPrepare}, prepErr), root.Name(), s.redactErr(prepErr))
		if ctx.Err() == nil {
			why := "prepare failed: " + s.oneLine(prepErr)
			walkBelow(root, func(n *Node) { s.skip(n, why) })
		}
	case ctx.Err() == nil:
		var spent bool
		if s.pre, spent = s.budget.failPre(tasks); spent {
			s.stopped()
		}
		for _, c := range root.Children {
			s.release(c)
		}
		s.loop(ctx)
	}
	// Only cancellation leaves nodes unsettled: every completion settles its node
	// and releases or skips its children.
	if s.report.pendingCount() > 0 {
		walkBelow(root, func(n *Node) {
			if !s.state[n.Index].settled() {
				s.interrupted(n)
			}
		})
	}

	s.report.Duration = s.opts.Now().Sub(s.report.Start)
	if err := s.call(ctx, Edge{Block: BlockFinish, Src: root}); err != nil {
		s.report.AddRunError(BlockFinish, root.Name(), s.redactErr(err))
	}
	s.report.Duration = s.opts.Now().Sub(s.report.Start)
	return s.report
}

type nodeState int

const (
	nodeWaiting nodeState = iota // its source does not have the data yet
	nodeHeld                     // its source has the data; the generation barrier holds it
	nodeReady                    // queued
	nodeRunning
	nodeOK
	nodeFailed
	nodeSkipped
)

func (st nodeState) settled() bool { return st >= nodeOK }

type completion struct {
	e     Edge
	start time.Time
	dur   time.Duration
	err   error
	// cancelled: the run was cancelled when the task returned, so its failure
	// is the cancellation's. Taken then, not when the loop reads it: a task
	// that failed first keeps its own error, however late the loop gets to it.
	cancelled bool
}

// standalone is the state of one run. It is driven by completions rather than by
// loops over a fixed tree: a finished edge decides which edges become ready (its
// destination's children, or, with the barrier, a whole generation). Only the loop
// goroutine touches it. Healing fits this shape: on a failure the failed node's
// children are released like any others, and enqueue picks a healthy source for a
// child whose parent failed; edges carry their source, so the tree itself never
// changes.
type standalone struct {
	t      *Tree
	tasks  Tasks
	opts   RunOptions
	log    *slog.Logger
	report *Report

	state     []nodeState // by Node.Index (a map cost more than a small task)
	ready     []Edge      // FIFO from readyHead: in tree order when Concurrency is 1
	readyHead int
	held      []*Node       // barrier: nodes whose source is done, generation not open
	unsettled []int         // per generation (index 0 = generation 1): nodes not settled
	open      int           // barrier: the deepest generation allowed to start
	oks       []*Node       // heal: nodes that have the data, in order of completion
	added     map[*Node]int // heal: children adopted by a node
	running   int
	done      chan completion
	workers   *gopool.Pool // the goroutines tasks run on

	budget *budget
	halt   *Halt             // fired by budget: no task starts
	pre    map[string]string // hosts whose broadcast failed, with the reason

	via    map[*Node]*Node // heal: the source of a re-attached node's edge
	needed map[*Node]int   // Release: edges still to end that use a node; absent: all of them
}

func (s *standalone) loop(ctx context.Context) {
	ctxDone := ctx.Done()
	for {
		for ctx.Err() == nil && !s.halted() && s.readyHead < len(s.ready) && (s.opts.Concurrency <= 0 || s.running < s.opts.Concurrency) {
			e := s.ready[s.readyHead]
			s.readyHead++
			if s.readyHead == len(s.ready) { // reuse the array rather than grow a new one
				s.ready, s.readyHead = s.ready[:0], 0
			}
			s.start(ctx, e)
		}
		if s.running == 0 {
			return
		}
		select {
		case c := <-s.done:
			s.complete(ctx, c)
		case <-ctxDone:
			// Launch nothing more; wait for the running tasks, which see ctx too.
			ctxDone = nil
		}
	}
}

func (s *standalone) start(ctx context.Context, e Edge) {
	s.running++
	s.state[e.Dst.Index] = nodeRunning
	s.workers.Go(func() {
		start := s.opts.Now()
		err := s.call(ctx, e)
		cancelled := ctx.Err() != nil
		s.done <- completion{e: e, start: start, dur: s.opts.Now().Sub(start), err: err, cancelled: cancelled}
	})
}

// maxIdleWorkers bounds the goroutines a run keeps for its next tasks once
// theirs are done: a task's goroutine grows its stack by copying, which costs
// more than a task that returns at once (a dry run's).
const maxIdleWorkers = 1024

func (s *standalone) complete(ctx context.Context, c completion) {
	s.running--
	n := c.e.Dst
	res := Result{NodeID: n.ID, Host: n.Name(), Level: n.Level, Task: taskOf(c.e, c.err), Via: c.e.Src.Name(), Start: c.start, Duration: c.dur}
	switch {
	case c.err == nil:
		res.Status = StatusOK
		s.state[n.Index] = nodeOK
		s.oks = append(s.oks, n)
		s.report.Set(res)
		for _, ch := range n.Children {
			s.release(ch)
		}
	case c.cancelled:
		res.Status, res.Err = StatusFailed, context.Cause(ctx).Error()
		s.state[n.Index] = nodeFailed
		s.report.Set(res)
		walkBelow(n, func(d *Node) { s.skip(d, "cancelled") })
	default:
		res.Status, res.Err, res.ExitStatus = StatusFailed, s.oneLine(c.err), ExitStatus(c.err)
		s.state[n.Index] = nodeFailed
		s.report.Set(res)
		// Counted before its children are settled: a host that spends the
		// budget has its descendants skipped as under any failed parent.
		stop := s.budget.fail(n.Name())
		defer func() {
			if stop {
				s.stopped()
			}
		}()
		if s.opts.Heal || errors.As(c.err, new(*BroadcastError)) {
			// enqueue finds the children a new source; their subtrees stay theirs.
			// (A host the broadcast missed fails alone: the hosts below it have
			// their own copy of the broadcast.)
			for _, ch := range n.Children {
				s.release(ch)
			}
		} else {
			walkBelow(n, func(d *Node) { s.skip(d, "parent "+n.Name()+" failed") })
		}
	}
	s.settle(n)
}

// release is called when n's source has the data: n is queued, or held by the
// barrier; once the run is halted, it and its subtree never start.
func (s *standalone) release(n *Node) {
	if s.halted() {
		s.notStarted(n)
		return
	}
	if s.opts.Barrier && s.gen(n) > s.open {
		s.state[n.Index] = nodeHeld
		s.held = append(s.held, n)
		return
	}
	s.enqueue(n)
}

func (s *standalone) enqueue(n *Node) {
	s.state[n.Index] = nodeReady
	e := Edge{Block: edgeBlock(n), Src: n.Parent, Dst: n}
	if s.state[n.Parent.Index] == nodeFailed {
		e.Src = s.adopter()
		s.added[e.Src]++
		s.via[n] = e.Src
		s.need(e.Src, 1)
		s.need(n.Parent, -1)
		e.Block = BlockRemote
		if e.Src == s.t.Root {
			e.Block = BlockLocally
		}
		s.log.Info("re-attached", "dst", n.Name(), "node", n.ID, "src", e.Src.Name(), "failed_parent", n.Parent.Name())
	}
	s.ready = append(s.ready, e)
}

// adopter picks the source for a child whose parent failed: of the nodes that
// have the data, the one with the fewest children attached (its own and those it
// adopted, so adoptions spread), then the shallowest, then the first in tree
// order; the root, which always has the data, only when no host has it yet. It
// is chosen when the child is queued: with the barrier, once its generation
// opens, so every host of the previous generations can take a share.
func (s *standalone) adopter() *Node {
	var best *Node
	for _, n := range s.oks {
		if best == nil || s.lessLoaded(n, best) {
			best = n
		}
	}
	if best == nil {
		return s.t.Root
	}
	return best
}

func (s *standalone) lessLoaded(a, b *Node) bool {
	la, lb := len(a.Children)+s.added[a], len(b.Children)+s.added[b]
	if la != lb {
		return la < lb
	}
	if a.Level != b.Level {
		return a.Level < b.Level
	}
	return a.Index < b.Index
}

// interrupted settles n, whose edge the cancelled run did not start: with
// what the tasks did for it before its edge (see Interrupter), else skipped.
func (s *standalone) interrupted(n *Node) {
	if it, ok := s.tasks.(Interrupter); ok {
		if res, ok := it.Interrupted(n); ok {
			switch res.Status {
			case StatusOK:
				s.state[n.Index] = nodeOK
			case StatusFailed:
				s.state[n.Index] = nodeFailed
			default:
				s.state[n.Index] = nodeSkipped
			}
			s.report.Set(res)
			s.settle(n)
			return
		}
	}
	s.skip(n, "cancelled")
}

func (s *standalone) skip(n *Node, why string) {
	s.state[n.Index] = nodeSkipped
	s.report.Set(Result{NodeID: n.ID, Host: n.Name(), Level: n.Level, Status: StatusSkipped, Task: edgeBlock(n), Err: why})
	// Per host at info level: the log file has it, the console only the summary's one line per cause.
	s.log.Info("skipped", "host", n.Name(), "node", n.ID, "reason", why)
	s.settle(n)
}

func (s *standalone) halted() bool {
	_, ok := s.halt.Reason()
	return ok
}

// stopped is called once the budget is spent: every host that no task has
// started for is skipped now, except those below a running task, which its
// completion settles (a failed parent's children keep that cause).
func (s *standalone) stopped() {
	s.budget.logSpent()
	var walk func(n *Node)
	walk = func(n *Node) {
		for _, c := range n.Children {
			switch st := s.state[c.Index]; {
			case st == nodeRunning:
			case st.settled():
				walk(c)
			default:
				s.notStarted(c)
			}
		}
	}
	walk(s.t.Root)
}

// notStarted settles n, which no task started for, and its subtree as never
// started because the run halted: skipped; failed when its broadcast did; ok
// when its edge has no block to run (copy: the broadcast brought its data).
func (s *standalone) notStarted(n *Node) {
	why, _ := s.halt.Reason()
	stop := func(d *Node) {
		if s.state[d.Index].settled() {
			return
		}
		r, failed := s.pre[d.Name()]
		switch {
		case failed:
			s.state[d.Index] = nodeFailed
			s.report.Set(Result{NodeID: d.ID, Host: d.Name(), Level: d.Level, Status: StatusFailed, Task: BlockBroadcast, Err: s.opts.Redactor.String(OneLine(r))})
		case !s.tasks.Defined(edgeBlock(d)):
			s.state[d.Index] = nodeOK
			s.report.Set(Result{NodeID: d.ID, Host: d.Name(), Level: d.Level, Status: StatusOK, Task: edgeBlock(d), Via: d.Parent.Name()})
		default:
			s.skip(d, why)
			return
		}
		s.settle(d)
	}
	stop(n)
	walkBelow(n, stop)
}

// settle counts n as done in its generation and, with the barrier, opens the next
// generations whose predecessors are all settled, queueing their held nodes in
// tree order.
func (s *standalone) settle(n *Node) {
	s.unsettled[s.gen(n)-1]--
	s.need(n, -1)
	if src, ok := s.via[n]; ok {
		s.need(src, -1)
	} else {
		s.need(n.Parent, -1)
	}
	if !s.opts.Barrier {
		return
	}
	for s.open < len(s.unsettled) && s.unsettled[s.open-1] == 0 {
		s.open++
		slices.SortFunc(s.held, func(a, b *Node) int { return a.Index - b.Index })
		for _, h := range s.held {
			if s.state[h.Index] == nodeHeld && !s.halted() { // else stopped() skips it
				s.enqueue(h)
			}
		}
		s.held = s.held[:0]
	}
}

// need counts d more (or, negative, fewer) edges still to end that use n's
// connection: its own and those it is the source of. At none, n is released.
func (s *standalone) need(n *Node, d int) {
	if s.opts.Release == nil || n.IsRoot() {
		return
	}
	if s.needed == nil {
		s.needed = map[*Node]int{}
	}
	left, ok := s.needed[n]
	if !ok {
		left = 1 + len(n.Children)
	}
	left += d
	s.needed[n] = left // kept at 0: an adoption counts from there
	if left == 0 {
		s.opts.Release(n.Host)
	}
}

func (s *standalone) gen(n *Node) int { return n.Level - s.t.Root.Level }

// call runs one edge's task (finish with the report) and logs its outcome.
func (s *standalone) call(ctx context.Context, e Edge) error {
	logEdge(s.log, slog.LevelDebug, "task started", e)
	err := runBlock(ctx, s.tasks, e, s.report)
	s.logResult(e, err)
	return err
}

// runBlock runs e's block with e in ctx, the finish block with r; a panic in a
// task becomes its error.
func runBlock(ctx context.Context, tasks Tasks, e Edge, r *Report) error {
	return guard(func() error {
		ctx := WithEdge(ctx, e)
		if e.Block == BlockFinish {
			return tasks.Finish(ctx, r)
		}
		return tasks.Run(ctx, e)
	})
}

// guard runs fn; a panic in it (a bug in a task or a Forker) becomes its error
// rather than ending the process.
func guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: panic: %v", p)
		}
	}()
	return fn()
}

func (s *standalone) logResult(e Edge, err error) {
	if err != nil {
		e.Block = taskOf(e, err) // a broadcast failure is the broadcast's, as in the summary
		s.log.Error("task failed", append(edgeAttrs(e), "error", s.oneLine(err))...)
		return
	}
	logEdge(s.log, slog.LevelInfo, "task done", e)
}

// logEdge logs msg with e's attributes. It builds them only when the level is
// enabled: a record per task is the cost of a whole task here.
func logEdge(l *slog.Logger, level slog.Level, msg string, e Edge) {
	if l.Enabled(context.Background(), level) {
		l.Log(context.Background(), level, msg, edgeAttrs(e)...)
	}
}

func edgeAttrs(e Edge) []any {
	a := []any{"task", string(e.Block), "src", e.Src.Name()}
	if e.Dst != nil {
		a = append(a, "dst", e.Dst.Name(), "node", e.Dst.ID)
	}
	return a
}

func (s *standalone) oneLine(err error) string {
	return s.opts.Redactor.String(OneLine(Reason(err)))
}

func (s *standalone) redactErr(err error) error {
	return errors.New(s.oneLine(err))
}
