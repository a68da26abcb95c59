package core

import (
	"context"
	"fmt"
	"io"
)

// PlanForker is grifork mode's dry-run Forker: instead of starting grifork on a
// child it records the command that would (under the edge that leads to the
// child, see Recorder.RecordFork) and plays the child's part in-process with the
// same tasks, so the plan covers every node of the tree. Tasks must be running
// on the Recorder.
type PlanForker struct {
	Rec   *Recorder
	Tasks Tasks
	// Cmdline is the command line the real Forker would run on child.
	Cmdline func(child *Node) string
}

// Fork implements Forker.
func (p *PlanForker) Fork(ctx context.Context, parent, child *Node, sub *Tree, events func(Event)) error {
	e := Edge{Block: edgeBlock(child), Src: parent, Dst: child}
	p.Rec.RecordFork(WithEdge(ctx, e), child, p.Cmdline(child))
	// The child's part, played in-process: its tasks see the node as their own
	// root, as they would on the host.
	RunGrifork(ctx, sub, p.Tasks, p, GriforkOptions{Remote: true, Events: events, Sequential: true})
	return nil
}

// PlanGrifork runs t in grifork mode with a PlanForker, tasks running on rec,
// and returns the report of that dry run. cmdline gives the command each fork
// would run. Nodes are served one at a time, depth first (see Sequential).
func PlanGrifork(ctx context.Context, t *Tree, tasks Tasks, rec *Recorder, cmdline func(*Node) string, opts GriforkOptions) *Report {
	opts.Remote, opts.Events, opts.Sequential = false, nil, true
	return RunGrifork(ctx, t, tasks, &PlanForker{Rec: rec, Tasks: tasks, Cmdline: cmdline}, opts)
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
// with children last among them, redacted with rec's Redactor. Of cfg, only
// the failure budget is shown.
func WriteGriforkPlan(w io.Writer, t *Tree, cfg Config, rec *Recorder) error {
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
	return writePlan(w, t, head, GriforkPlanEdges(t), rec)
}
