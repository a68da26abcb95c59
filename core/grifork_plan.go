package core

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// PlanGrifork runs t in grifork mode as a dry run, tasks running on rec, and
// returns its report. Instead of starting grifork on a child, each fork
// records the command that would (under the edge that leads to the child, see
// Recorder.RecordFork; cmdline gives it) and plays the child's part
// in-process with the same tasks, so the plan covers every node of the tree.
// Nodes are served one at a time, depth first (see Sequential).
func PlanGrifork(ctx context.Context, t *Tree, tasks Tasks, rec *Recorder, cmdline func(*Node) string, opts GriforkOptions) *Report {
	opts.Remote, opts.Events, opts.Sequential = false, nil, true
	g := newGriforkRun(t, tasks, nil, opts, NewReport(Grifork, t))
	g.report.Heal = opts.Heal
	g.plan = &planFork{rec: rec, cmdline: cmdline, root: g, halt: NewHalt()}
	g.run(ctx)
	return g.report
}

// planFork plays a dry run's forks. A child's part is a level of its own, as
// on the host (its tasks see the node as their root; prepare_remote, its
// edges, its forks, finish_remote, a done event), but over the same tree and
// the root's report: every level would otherwise copy its subtree and keep a
// report of it, and pass each result of it on to its parent, 100,000 hosts ×
// the depth of the tree in one process. The root's run gets the levels'
// events straight from them and sets their results, so the root's report and
// log are those the chain of levels gives: each level's report would hold
// exactly what the root's holds of its subtree, one task runs at a time, and
// a level below the root has no log, budget or healing of its own.
type planFork struct {
	rec     *Recorder
	cmdline func(*Node) string
	root    *griforkRun
	halt    *Halt // the levels'
	// started is the task that started last below the root's children and
	// has no result yet (one runs at a time): a fork that breaks off leaves
	// its host failed, as a real one does with the hosts being served.
	started   startedTask
	startedID string
}

// fork records the command that starts grifork on child and plays child's
// part (see planFork).
func (p *planFork) fork(ctx context.Context, g *griforkRun, child *Node) (f forked) {
	size := 1 + countBelow(child)
	// child as its own root: the node it is on the host (no parent), its
	// children those of the tree.
	self := &Node{ID: child.ID, Level: child.Level, Number: child.Number, Index: child.Index, Host: child.Host, Children: child.Children}
	// A level has no log, budget or halt of its own (see planFork): one halt,
	// never fired, and one discarding logger serve them all.
	level := newGriforkRun(&Tree{Root: self, Branches: g.tree.Branches, n: size}, g.tasks, nil,
		GriforkOptions{Remote: true, Events: p.fromBelow, Sequential: true, Halt: p.halt, Logger: discardLog}, p.root.report)
	level.plan, level.nested, level.start = p, true, time.Now()
	level.pendingAtStart = p.root.report.pendingCount()
	// A panic below is this fork's failure, as a real grifork's death is.
	f.err = guard(func() error {
		p.rec.RecordFork(WithEdge(ctx, Edge{Block: edgeBlock(child), Src: g.self, Dst: child}), child, p.cmdline(child))
		done := level.run(ctx)
		f.done = &done
		return nil
	})
	if f.unsettled = level.pendingLeft(); f.unsettled && p.startedID != "" && strings.HasPrefix(p.startedID, child.ID+"-") {
		f.started = map[string]startedTask{p.startedID: p.started}
	}
	return f
}

var discardLog = slog.New(slog.DiscardHandler)

// countBelow is the number of nodes below n.
func countBelow(n *Node) int {
	c := len(n.Children)
	for _, k := range n.Children {
		c += countBelow(k)
	}
	return c
}

// fromBelow is the root's run hearing an event of a level below it.
func (p *planFork) fromBelow(ev Event) {
	switch ev.Type {
	case EventStarted:
		p.startedID, p.started = ev.NodeID, startedTask{task: ev.Task, start: ev.Start}
	case EventResult:
		if ev.NodeID == p.startedID {
			p.startedID = ""
		}
	}
	p.root.relay(ev)
}

// GriforkPlanEdges lists the edges of a grifork-mode run in the order the plan
// shows them: prepare on the root; then, node by node in tree order, for each
// node with children: prepare_remote on it (not on the root), its edges to its
// children (locally from the root, remote from the others), finish_remote on it;
// finish on the root last.
func GriforkPlanEdges(t *Tree) []Edge {
	// Counted first, so that 100,000 edges are not appended into a growing list.
	n := 2
	walkBelow(t.Root, func(c *Node) {
		n++
		if len(c.Children) > 0 {
			n += 2
		}
	})
	edges := append(make([]Edge, 0, n), Edge{Block: BlockPrepare, Src: t.Root})
	t.Walk(func(n *Node) {
		if len(n.Children) == 0 {
			return
		}
		remote := n != t.Root
		if remote {
			edges = append(edges, Edge{Block: BlockPrepareRemote, Src: n})
		}
		for _, c := range n.Children {
			edges = append(edges, Edge{Block: edgeBlock(c), Src: n, Dst: c})
		}
		if remote {
			edges = append(edges, Edge{Block: BlockFinishRemote, Src: n})
		}
	})
	return append(edges, Edge{Block: BlockFinish, Src: t.Root})
}

// WriteGriforkPlan prints a grifork-mode dry run: the tree, a header, then every
// edge of GriforkPlanEdges(t) with its recorded commands, the fork to a node
// with children last among them, redacted with rec's Redactor, and
// afterPrepare's part as WritePlan has it. Of cfg, only the failure budget is
// shown.
func WriteGriforkPlan(w io.Writer, t *Tree, cfg Config, rec *Recorder, afterPrepare func(io.Writer) error) error {
	hosts := t.size() - 1
	forks := 0
	t.Walk(func(n *Node) {
		if !n.IsRoot() && len(n.Children) > 0 {
			forks++
		}
	})
	head := fmt.Sprintf("plan: mode %s, branches %d, %d %s, grifork runs on %d %s (dry run: nothing was executed)\n"+
		"each node runs its own blocks: \"local:\" is on the node that runs the block\n",
		Grifork, t.Branches, hosts, plural(hosts, "host", "hosts"), forks, plural(forks, "node", "nodes")) +
		budgetLine(cfg.MaxFailures, hosts)
	return writePlan(w, t, head, GriforkPlanEdges(t), rec, afterPrepare)
}
