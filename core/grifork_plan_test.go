package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
)

// chainForker plays a child's part as a dry run did before planFork: a run of
// its own over a copy of the subtree with a report of its own, every event
// passed on through every level above it. PlanGrifork must give what it gives.
type chainForker struct {
	rec   *Recorder
	tasks Tasks
}

func (c *chainForker) Fork(ctx context.Context, parent, child *Node, sub *Tree, events func(Event)) error {
	c.rec.RecordFork(WithEdge(ctx, Edge{Block: edgeBlock(child), Src: parent, Dst: child}), child, "grifork --on-remote "+child.ID)
	RunGrifork(ctx, sub, c.tasks, c, GriforkOptions{Remote: true, Events: events, Sequential: true})
	return nil
}

// scriptedTasks records a command for every block it runs (with whether its
// source is a root, as the DSL's helpers ask) and fails, panics or cancels the
// run where it is told to.
type scriptedTasks struct {
	rec    *Recorder
	fail   map[string]bool // "<block> <host>": the block fails there (host: dst, else src)
	panics string          // dst whose edge task panics
	cancel string          // dst whose edge task cancels the run
	stop   context.CancelCauseFunc

	mu       sync.Mutex
	finished string // what finish saw of the report
}

func (s *scriptedTasks) Defined(Block) bool { return true }

func (s *scriptedTasks) Run(ctx context.Context, e Edge) error {
	host := e.Src.Name()
	if e.Dst != nil {
		host = e.Dst.Name()
	}
	if _, err := s.rec.Local(ctx, []string{string(e.Block), e.Src.Name(), host, fmt.Sprint(e.Src.IsRoot())}); err != nil {
		return err
	}
	switch {
	case e.Dst != nil && host == s.panics:
		panic("bug in a task")
	case e.Dst != nil && host == s.cancel:
		s.stop(errors.New("interrupted"))
		return context.Cause(ctx)
	case s.fail[string(e.Block)+" "+host]:
		return fmt.Errorf("%s fails on %s\nsecond line", e.Block, host)
	}
	return nil
}

func (s *scriptedTasks) Finish(ctx context.Context, r *Report) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = fmt.Sprintf("%d ok, %d failed, %d skipped, %d errors", r.Count(StatusOK), r.Count(StatusFailed), r.Count(StatusSkipped), len(r.RunErrors()))
	return nil
}

// panicHandler panics once, at the record of the start of dst's task.
type panicHandler struct {
	slog.Handler
	dst  string
	done bool
}

func (h *panicHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "task started" && !h.done {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "dst" && a.Value.String() == h.dst {
				h.done = true
			}
			return !h.done
		})
		if h.done {
			panic("log broke")
		}
	}
	return h.Handler.Handle(ctx, r)
}

// dryRunOutcome is what a dry run shows: the plan, the log, the results
// (without times), the run errors and what finish saw.
func dryRunOutcome(t *testing.T, tree *Tree, tasks *scriptedTasks, rec *Recorder, r *Report, log *syncBuffer) string {
	t.Helper()
	var b strings.Builder
	if err := WriteGriforkPlan(&b, tree, Config{}, rec, nil); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\nlog:\n" + log.String() + "\nresults:\n")
	for _, x := range r.Results() {
		fmt.Fprintf(&b, "%s %s %s %s via=%s err=%q exit=%d start=%v\n", x.NodeID, x.Host, x.Status, x.Task, x.Via, x.Err, x.ExitStatus, !x.Start.IsZero())
	}
	fmt.Fprintf(&b, "run errors: %v\nfinish: %s\npending: %d\n", r.RunErrors(), tasks.finished, r.pendingCount())
	return b.String()
}

// A dry run's levels share the root's report and hand it their events
// directly; its plan, log, results and run errors are those of a chain of
// levels that each keep their own, whatever fails where.
func TestPlanGriforkAsChain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		hosts  int
		heal   bool
		fail   []string
		panics string
		cancel string
		// The root's log panics at the start of this host's task: a fork
		// breaks off while a task below it runs.
		logPanics string
	}{
		{name: "all ok", hosts: 60},
		{name: "edges fail", hosts: 60, fail: []string{"locally h2", "remote h7", "remote h30", "remote h59"}},
		{name: "node blocks fail", hosts: 90, fail: []string{"prepare_remote h3", "finish_remote h1", "finish_remote h9", "prepare_remote h20"}},
		{name: "prepare fails", hosts: 20, fail: []string{"prepare localhost"}},
		{name: "finish_remote and edges", hosts: 90, fail: []string{"finish_remote h5", "remote h21", "remote h22"}},
		{name: "a task panics", hosts: 60, panics: "h6"},
		{name: "cancelled in a fork", hosts: 60, cancel: "h25"},
		{name: "cancelled at the root", hosts: 30, cancel: "h3"},
		{name: "heal at the root", hosts: 60, heal: true, fail: []string{"locally h2", "remote h8"}},
		{name: "a fork breaks off", hosts: 60, logPanics: "h22"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var outcomes [2]string
			for i, chain := range []bool{true, false} {
				tree, err := BuildTree(manyHosts(tc.hosts), 3)
				if err != nil {
					t.Fatal(err)
				}
				ctx, stop := context.WithCancelCause(context.Background())
				defer stop(nil)
				rec := NewRecorder(nil, nil)
				tasks := &scriptedTasks{rec: rec, fail: map[string]bool{}, panics: tc.panics, cancel: tc.cancel, stop: stop}
				for _, f := range tc.fail {
					tasks.fail[f] = true
				}
				var log syncBuffer
				logger := slog.New(&panicHandler{dst: tc.logPanics, Handler: slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug,
					ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
						if a.Key == slog.TimeKey || a.Key == "duration" {
							return slog.Attr{}
						}
						return a
					}})})
				opts := GriforkOptions{Logger: logger, Heal: tc.heal}
				var r *Report
				if chain {
					opts.Sequential = true
					r = RunGrifork(ctx, tree, tasks, &chainForker{rec: rec, tasks: tasks}, opts)
				} else {
					r = PlanGrifork(ctx, tree, tasks, rec, func(n *Node) string { return "grifork --on-remote " + n.ID }, opts)
				}
				outcomes[i] = dryRunOutcome(t, tree, tasks, rec, r, &log)
			}
			if outcomes[0] != outcomes[1] {
				a, b := strings.Split(outcomes[0], "\n"), strings.Split(outcomes[1], "\n")
				for i := range min(len(a), len(b)) {
					if a[i] != b[i] {
						t.Fatalf("line %d:\nchain: %s\nplan:  %s", i+1, a[i], b[i])
					}
				}
				t.Fatalf("%d lines against %d", len(a), len(b))
			}
			if forks := !slices.Contains(tc.fail, "prepare localhost"); strings.Contains(outcomes[1], "fork h1: grifork --on-remote 0.0-1.0") != forks {
				t.Errorf("fork of h1 recorded: %v, want %v:\n%s", !forks, forks, outcomes[1])
			}
			wantOK := len(tc.fail) == 0 && tc.panics == "" && tc.cancel == "" && tc.logPanics == ""
			if ok := strings.Count(outcomes[1], " ok ") == tc.hosts; ok != wantOK {
				t.Errorf("all %d hosts ok: %v, want %v", tc.hosts, ok, wantOK)
			}
		})
	}
}

// The levels of a dry run run their tasks with their node as the root, as on
// the host, and every node of the tree has its edge task.
func TestPlanGriforkLevels(t *testing.T) {
	t.Parallel()
	tree, err := BuildTree(manyHosts(13), 3)
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(nil, nil)
	tasks := &scriptedTasks{rec: rec}
	r := PlanGrifork(context.Background(), tree, tasks, rec, func(*Node) string { return "grifork" }, GriforkOptions{})
	if !r.OK() {
		t.Fatalf("dry run failed: %v", r.Results())
	}
	var got []string
	for _, e := range GriforkPlanEdges(tree) {
		for _, s := range rec.Steps(e) {
			got = append(got, strings.Join(s.Argv, " ")+s.Cmdline)
		}
	}
	want := []string{
		"prepare localhost localhost true",
		"locally localhost h1 true", "grifork", "locally localhost h2 true", "grifork", "locally localhost h3 true", "grifork",
		"prepare_remote h1 h1 true", "remote h1 h4 true", "grifork", "remote h1 h5 true", "remote h1 h6 true", "finish_remote h1 h1 true",
		"prepare_remote h2 h2 true", "remote h2 h7 true", "remote h2 h8 true", "remote h2 h9 true", "finish_remote h2 h2 true",
		"prepare_remote h3 h3 true", "remote h3 h10 true", "remote h3 h11 true", "remote h3 h12 true", "finish_remote h3 h3 true",
		"prepare_remote h4 h4 true", "remote h4 h13 true", "finish_remote h4 h4 true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.Count(StatusOK) != 13 || len(r.RunErrors()) != 0 {
		var b bytes.Buffer
		r.WriteSummary(&b)
		t.Errorf("summary: %s", b.String())
	}
}
