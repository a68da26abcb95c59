package core

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// peakTasks counts the tasks running at once and remembers the most.
type peakTasks struct {
	mu         sync.Mutex
	now, peak  int
	fail       string // host whose edge task fails
	runs, fins int
}

func (p *peakTasks) Defined(Block) bool { return true }

func (p *peakTasks) Run(ctx context.Context, e Edge) error {
	p.mu.Lock()
	p.now++
	p.runs++
	p.peak = max(p.peak, p.now)
	p.mu.Unlock()
	defer func() { p.mu.Lock(); p.now--; p.mu.Unlock() }()
	time.Sleep(50 * time.Microsecond) // long enough for concurrent tasks to overlap
	if e.Dst != nil && e.Dst.Name() == p.fail {
		return fmt.Errorf("boom")
	}
	return nil
}

func (p *peakTasks) Finish(context.Context, *Report) error { p.fins++; return nil }

func manyHosts(n int) []Host {
	hs := make([]Host, n)
	for i := range hs {
		hs[i] = Host{Name: fmt.Sprintf("h%d", i+1)}
	}
	return hs
}

// The grifork-mode dry run plays every node in-process: it serves one task at
// a time, so a large tree never holds every host's task (a Lua coroutine each)
// at once, and its outcomes are still those of the real run.
func TestPlanGriforkSequential(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		hosts               int
		fail                string
		ok, failed, skipped int
	}{
		{"all ok", 400, "", 400, 0, 0},
		// h2 is a child of the root; its subtree below it is skipped.
		{"a fork's edge fails", 100, "h2", 100 - 1 - 20, 1, 20},
		// h90 is a leaf deep down: only itself.
		{"a leaf fails", 100, "h90", 99, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tree, err := BuildTree(manyHosts(tc.hosts), 4)
			if err != nil {
				t.Fatal(err)
			}
			tasks := &peakTasks{fail: tc.fail}
			rec := NewRecorder(nil, nil)
			r := PlanGrifork(context.Background(), tree, tasks, rec, func(*Node) string { return "grifork" }, GriforkOptions{})
			if tasks.peak != 1 {
				t.Errorf("%d tasks ran at once, want 1", tasks.peak)
			}
			got := [3]int{r.Count(StatusOK), r.Count(StatusFailed), r.Count(StatusSkipped)}
			if want := [3]int{tc.ok, tc.failed, tc.skipped}; got != want {
				t.Errorf("ok/failed/skipped = %v, want %v", got, want)
			}
			if r.pendingCount() != 0 {
				t.Errorf("%d results pending", r.pendingCount())
			}
		})
	}
}

// The report counts its pending results through every kind of update.
func TestReportPending(t *testing.T) {
	t.Parallel()
	tree, err := BuildTree(manyHosts(3), 2)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReport(Grifork, tree)
	ids := []string{"0.0-1.0", "0.0-1.1", "0.0-1.0-2.0"}
	steps := []struct {
		res         Result
		settled     bool
		wantPending int
	}{
		{Result{NodeID: ids[0], Status: StatusOK}, true, 2},
		{Result{NodeID: ids[0], Status: StatusFailed}, false, 2},
		{Result{NodeID: ids[1], Status: StatusPending}, false, 2},
		{Result{NodeID: ids[1], Status: StatusSkipped}, true, 1},
		{Result{NodeID: ids[1], Status: StatusPending}, false, 2},
		{Result{NodeID: "elsewhere", Status: StatusOK}, false, 2},
		{Result{NodeID: "pending-elsewhere", Status: StatusPending}, false, 3},
		{Result{NodeID: ids[2], Status: StatusOK}, true, 2},
	}
	for i, s := range steps {
		if got := r.set(s.res); got != s.settled {
			t.Errorf("step %d: settled %v, want %v", i, got, s.settled)
		}
		if got := r.pendingCount(); got != s.wantPending || got != r.Count(StatusPending) {
			t.Errorf("step %d: pending %d (Count %d), want %d", i, got, r.Count(StatusPending), s.wantPending)
		}
	}
}

// liarForker plays a remote grifork that reports every node of its subtree but
// one, and reports instead a node of another subtree.
type liarForker struct {
	omit, foreign string // node ids
}

func (f *liarForker) Fork(ctx context.Context, parent, child *Node, sub *Tree, events func(Event)) error {
	walkBelow(sub.Root, func(n *Node) {
		if n.ID != f.omit {
			events(ResultEvent(Result{NodeID: n.ID, Host: n.Name(), Status: StatusOK, Task: BlockRemote}))
		}
	})
	if child.Name() == "h1" {
		events(ResultEvent(Result{NodeID: f.foreign, Host: "elsewhere", Status: StatusOK, Task: BlockRemote}))
	}
	events(Event{Type: EventDone, NodeID: child.ID, Host: child.Name(), Status: StatusOK})
	return nil
}

// A fork's results settle only nodes of its own subtree: one that reports a
// node of another subtree in place of one of its own still leaves that one to
// the sweep for what was not reported.
func TestForkCountsOnlyItsSubtree(t *testing.T) {
	t.Parallel()
	tree, err := BuildTree(manyHosts(12), 2) // h1: h3 (h7, h8), h4 (h9, h10); h2: h5 (h11, h12), h6
	if err != nil {
		t.Fatal(err)
	}
	h7, h11 := find(tree, "0.0-1.0-2.0-3.0"), find(tree, "0.0-1.1-2.0-3.0")
	if h7.Name() != "h7" || h11.Name() != "h11" {
		t.Fatalf("tree: %s, %s", h7.Name(), h11.Name())
	}
	f := &liarForker{omit: h7.ID, foreign: h11.ID}
	r := RunGrifork(context.Background(), tree, &peakTasks{}, f, GriforkOptions{Sequential: true}) // h1 first: h11 still pending
	res, _ := r.Get(h7.ID)
	if res.Status != StatusSkipped || res.Err != "no result reported by grifork on h1" {
		t.Errorf("h7: %s %q, want skipped, no result reported by grifork on h1", res.Status, res.Err)
	}
	if r.Count(StatusOK) != 11 {
		t.Errorf("%d ok, want 11: %v", r.Count(StatusOK), r.Results())
	}
}
