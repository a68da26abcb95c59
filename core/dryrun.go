package core

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/grifork/grifork/redact"
)

// StepKind says what a recorded dry-run step would have done.
type StepKind string

const (
	StepLocal  StepKind = "local" // a command on this machine (sh, rsync)
	StepRemote StepKind = "ssh"   // a command line run on a host over SSH (ssh, rsync_remote)
	StepFork   StepKind = "fork"  // grifork mode: grifork started on a node
)

// Step is one command a task would have run.
type Step struct {
	Kind    StepKind
	Argv    []string // StepLocal
	Host    Host     // StepRemote, StepFork: where it runs
	Cmdline string   // StepRemote, StepFork: the shell command line sent there
}

// String shows the step as the plan prints it: "local: <argv quoted>",
// "ssh <host>: <cmdline>", "fork <host>: <cmdline>".
func (s Step) String() string {
	var b strings.Builder
	s.write(&b)
	return b.String()
}

// write writes String's text to b.
func (s Step) write(b shellWriter) {
	if s.Kind == StepLocal {
		b.WriteString("local: ")
		writeShellJoin(b, s.Argv)
		return
	}
	b.WriteString(string(s.Kind))
	b.WriteByte(' ')
	b.WriteString(s.Host.String())
	b.WriteString(": ")
	b.WriteString(s.Cmdline)
}

// Recorder is the dry-run Exec: it runs nothing and records every command under
// the Edge its ctx carries, so that WritePlan can print them edge by edge. Local
// and Remote return empty output and no error. Safe for concurrent use.
type Recorder struct {
	rsh      func(Host) string
	localRsh func(Host) string // nil: rsh
	red      *redact.Redactor

	mu    sync.Mutex
	steps map[edgeKeyID][]Step
}

// edgeKeyID identifies an edge by node ids, so the plan does not depend on
// which *Node copy a task was given.
type edgeKeyID struct {
	block    Block
	src, dst string
}

func keyOf(e Edge) edgeKeyID {
	k := edgeKeyID{block: e.Block}
	if e.Src != nil {
		k.src = e.Src.ID
	}
	if e.Dst != nil {
		k.dst = e.Dst.ID
	}
	return k
}

// NewRecorder returns a Recorder whose Rsh is rsh (so recorded rsync commands
// show the real --rsh) and whose plans are redacted with red. A nil rsh gives
// "ssh".
func NewRecorder(rsh func(Host) string, red *redact.Redactor) *Recorder {
	if rsh == nil {
		rsh = func(Host) string { return "ssh" }
	}
	return &Recorder{rsh: rsh, red: red, steps: map[edgeKeyID][]Step{}}
}

// Grow makes room for the steps of n more edges: a plan knows its edges before
// its tasks run, and rehashing a map of 100,000 edges as it grew was 5% of a
// standalone dry run.
func (r *Recorder) Grow(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	steps := make(map[edgeKeyID][]Step, len(r.steps)+n)
	maps.Copy(steps, r.steps)
	r.steps = steps
}

func (r *Recorder) record(ctx context.Context, s Step) {
	e, _ := EdgeFrom(ctx) // outside any task: recorded under the zero edge
	r.mu.Lock()
	defer r.mu.Unlock()
	k := keyOf(e)
	r.steps[k] = append(r.steps[k], s)
}

// Local records argv.
func (r *Recorder) Local(ctx context.Context, argv []string) (string, error) {
	r.record(ctx, Step{Kind: StepLocal, Argv: append([]string(nil), argv...)})
	return "", nil
}

// Remote records cmdline on host.
func (r *Recorder) Remote(ctx context.Context, host Host, cmdline string) (string, error) {
	r.record(ctx, Step{Kind: StepRemote, Host: host, Cmdline: cmdline})
	return "", nil
}

// Immediate implements Immediate: recording a command waits on nothing.
func (r *Recorder) Immediate() {}

// Rsh returns what the real Exec would.
func (r *Recorder) Rsh(host Host) string { return r.rsh(host) }

// LocalRsh returns what the real Exec would: the func of SetLocalRsh, else Rsh.
func (r *Recorder) LocalRsh(host Host) string {
	if r.localRsh == nil {
		return r.rsh(host)
	}
	return r.localRsh(host)
}

// SetLocalRsh makes f the answer of LocalRsh (set before the run is recorded).
func (r *Recorder) SetLocalRsh(f func(Host) string) { r.localRsh = f }

// RecordFork records that grifork would be started on node with cmdline (grifork
// mode's dry-run Forker calls it under the edge that leads to node).
func (r *Recorder) RecordFork(ctx context.Context, node *Node, cmdline string) {
	r.record(ctx, Step{Kind: StepFork, Host: node.Host, Cmdline: cmdline})
}

// Steps returns the steps recorded under e, in the order they were recorded.
func (r *Recorder) Steps(e Edge) []Step {
	return append([]Step(nil), r.stepsOf(e)...)
}

// stepsOf is Steps without the copy, for reading only: a step recorded
// meanwhile goes past the end of the returned slice.
func (r *Recorder) stepsOf(e Edge) []Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.steps[keyOf(e)]
}

// Redactor is what the Recorder's plans are redacted with.
func (r *Recorder) Redactor() *redact.Redactor { return r.red }

// PlanEdges lists the edges of a standalone run in schedule order: prepare,
// locally for each child of the root, remote for each later node generation by
// generation (tree order within one), finish.
func PlanEdges(t *Tree) []Edge {
	gens := t.Generations()
	n := 2
	for _, gen := range gens {
		n += len(gen)
	}
	edges := append(make([]Edge, 0, n), Edge{Block: BlockPrepare, Src: t.Root})
	for _, gen := range gens {
		for _, n := range gen {
			edges = append(edges, Edge{Block: edgeBlock(n), Src: n.Parent, Dst: n})
		}
	}
	return append(edges, Edge{Block: BlockFinish, Src: t.Root})
}

// WritePlan prints a standalone dry run: the tree, a header, then every edge of
// PlanEdges(t) with the commands rec recorded for it, all of it redacted with
// rec's Redactor. afterPrepare, unless nil, writes what runs between prepare
// and the first edge (the broadcast).
func WritePlan(w io.Writer, t *Tree, cfg Config, rec *Recorder, afterPrepare func(io.Writer) error) error {
	mode := cfg.Mode
	if mode == "" {
		mode = Standalone
	}
	hosts := t.size() - 1
	head := fmt.Sprintf("plan: mode %s, branches %d, %d %s (dry run: nothing was executed)\n",
		mode, t.Branches, hosts, plural(hosts, "host", "hosts")) + budgetLine(cfg.MaxFailures, hosts)
	return writePlan(w, t, head, PlanEdges(t), rec, afterPrepare)
}

// writePlan prints the tree, head after a blank line, then the edges, all of it
// redacted with rec's Redactor, and afterPrepare's part (after a blank line)
// where the run has it: after the first edge, the root's prepare. That part is
// redacted too, and must come in one write so no secret is split.
func writePlan(w io.Writer, t *Tree, head string, edges []Edge, rec *Recorder, afterPrepare func(io.Writer) error) error {
	rw := rec.red.Writer(w)
	if rec.red == nil {
		if err := RenderText(w, t); err != nil { // no copy of a picture of 100,000 lines
			return err
		}
	} else {
		// Whole, so that no secret is split across two writes.
		var pic strings.Builder
		if err := RenderText(&pic, t); err != nil {
			return err
		}
		if _, err := io.WriteString(rw, pic.String()); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(rw, "\n%s", head); err != nil {
		return err
	}
	if afterPrepare == nil {
		return WritePlanEdges(w, edges, rec)
	}
	if err := WritePlanEdges(w, edges[:1], rec); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	if err := afterPrepare(rw); err != nil {
		return err
	}
	return WritePlanEdges(w, edges[1:], rec)
}

// WritePlanEdges prints edges in the given order, each with the steps rec
// recorded for it, or "(no commands)". Edges without a destination (prepare,
// finish, prepare_remote, finish_remote) get a heading "<block> on <host>"; the
// others are grouped under "generation N: <block>" headings (N is the
// destination's level) whenever generation or block changes.
// Everything printed is redacted with rec's Redactor.
func WritePlanEdges(w io.Writer, edges []Edge, rec *Recorder) error {
	// A line per edge and per command, 100,000s of them: no fmt.
	bw := bufio.NewWriterSize(w, 64<<10)
	red := rec.red.String
	line := func(parts ...string) {
		for _, p := range parts {
			bw.WriteString(p)
		}
		bw.WriteByte('\n')
	}
	var lastGen int
	var lastBlock Block
	for _, e := range edges {
		indent := "  "
		if e.Dst == nil {
			line("\n", string(e.Block), " on ", red(e.Src.Name()))
			lastGen = 0
		} else {
			if gen := e.Dst.Level; gen != lastGen || e.Block != lastBlock {
				line("\ngeneration ", strconv.Itoa(gen), ": ", string(e.Block))
				lastGen, lastBlock = gen, e.Block
			}
			line("  ", red(e.Src.Name()), " -> ", red(e.Dst.Name()), " (", e.Dst.ID, ")")
			indent = "    "
		}
		steps := rec.stepsOf(e)
		if len(steps) == 0 {
			line(indent, "(no commands)")
		}
		for _, s := range steps {
			if rec.red == nil {
				// Nothing to redact: straight into the buffer, with no string
				// of the line (a step per edge and one per fork, 125,000s).
				bw.WriteString(indent)
				s.write(bw)
				bw.WriteByte('\n')
				continue
			}
			line(indent, red(s.String()))
		}
	}
	return bw.Flush()
}

// budgetLine is the plan header's line for b, "" without a budget.
func budgetLine(b FailureBudget, hosts int) string {
	if !b.Set {
		return ""
	}
	return b.Describe(hosts) + "\n"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
