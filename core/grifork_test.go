package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTasks records every task it runs and fails the ones listed in fail
// (host → block; the host is Dst for edges, Src for a node's own blocks). Each
// simulated process has its own instance (own Printer) sharing the call log.
type fakeTasks struct {
	fail    map[string]Block
	block   map[string]bool // hosts whose edge task waits for ctx to end
	printer *Printer
	log     *callLog
	report  *Report // what finish received
}

type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (c *callLog) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, s)
}

func (c *callLog) sorted() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.calls)
	slices.Sort(out)
	return out
}

func (ft *fakeTasks) with(p *Printer) *fakeTasks {
	return &fakeTasks{fail: ft.fail, block: ft.block, printer: p, log: ft.log}
}

func (ft *fakeTasks) Defined(Block) bool { return true }

func (ft *fakeTasks) Run(ctx context.Context, e Edge) error {
	if got, ok := EdgeFrom(ctx); !ok || got != e {
		return errors.New("ctx does not carry the edge")
	}
	host, desc := e.Src.Name(), fmt.Sprintf("%s on %s", e.Block, e.Src.Name())
	if e.Dst != nil {
		host, desc = e.Dst.Name(), fmt.Sprintf("%s %s->%s", e.Block, e.Src.Name(), e.Dst.Name())
	}
	ft.log.add(desc)
	ft.printer.Line(host, desc)
	if ft.block[host] && e.Dst != nil {
		<-ctx.Done()
		return ctx.Err()
	}
	if b, ok := ft.fail[host]; ok && b == e.Block {
		return fmt.Errorf("%s failed on %s\nsecond line", e.Block, host)
	}
	return nil
}

func (ft *fakeTasks) Finish(ctx context.Context, r *Report) error {
	ft.log.add("finish")
	ft.report = r
	return nil
}

// fakeForker runs the child's grifork in-process: the subtree and the events go
// through the real JSON encodings, the way they cross SSH.
type fakeForker struct {
	base        *fakeTasks
	unreachable map[string]bool
	dieAfter    map[string]int // host → events its grifork writes before its link breaks
	forks       *callLog
}

func (ff *fakeForker) Fork(ctx context.Context, parent, child *Node, sub *Tree, events func(Event)) error {
	ff.forks.add(parent.Name() + "->" + child.Name())
	if ff.unreachable[child.Name()] {
		return fmt.Errorf("dial %s: connection refused", child.Name())
	}
	remoteTree, err := roundTripTree(sub)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	n, dies := ff.dieAfter[child.Name()]
	go func() {
		var w io.Writer = pw
		if dies {
			w = &breakingWriter{w: pw, left: n}
		}
		ew := NewEventWriter(w)
		out := ew.OutputWriter(remoteTree.Root, StreamConsole)
		tasks := ff.base.with(NewPrinter(out, nil))
		_, _ = RunGrifork(ctx, remoteTree, tasks, ff, GriforkOptions{Remote: true, Events: ew.Emit})
		pw.Close()
	}()
	if err := ReadEvents(pr, child, events); err != nil {
		return err
	}
	if dies {
		return errors.New("Process exited with status 255")
	}
	return nil
}

// breakingWriter fails after left lines, like a dropped SSH connection.
type breakingWriter struct {
	w    io.Writer
	left int
}

func (b *breakingWriter) Write(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.ErrClosedPipe
	}
	b.left--
	return b.w.Write(p)
}

func roundTripTree(t *Tree) (*Tree, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	var out Tree
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	var link func(*Node)
	link = func(n *Node) {
		for _, c := range n.Children {
			c.Parent = n
			link(c)
		}
	}
	link(out.Root)
	return &out, nil
}

func fleetTree(t *testing.T, n, branches int) *Tree {
	t.Helper()
	hosts := make([]Host, n)
	for i := range hosts {
		hosts[i] = Host{Name: fmt.Sprintf("h%02d", i+1)}
	}
	tr, err := BuildTree(hosts, branches)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// standaloneOutcome is what a standalone run gives for fakeTasks with fail:
// a failed node's descendants are skipped, naming it.
func standaloneOutcome(t *Tree, fail map[string]Block) map[string]Result {
	out := map[string]Result{}
	var visit func(n *Node, failedAncestor string)
	visit = func(n *Node, failedAncestor string) {
		if !n.IsRoot() {
			b := edgeBlock(n)
			r := Result{NodeID: n.ID, Host: n.Name(), Level: n.Level, Status: StatusOK, Task: b}
			switch {
			case failedAncestor != "":
				r.Status, r.Err = StatusSkipped, "parent "+failedAncestor+" failed"
			case fail[n.Name()] == b:
				r.Status, r.Err = StatusFailed, fmt.Sprintf("%s failed on %s …", b, n.Name())
				failedAncestor = n.Name()
			}
			out[n.ID] = r
		}
		for _, c := range n.Children {
			visit(c, failedAncestor)
		}
	}
	visit(t.Root, "")
	return out
}

func TestRunGrifork(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		fail        map[string]Block
		unreachable map[string]bool
		dieAfter    map[string]int
		// adjust turns the standalone outcome into this case's expectation, for
		// failures that only grifork mode has (forks, remote-only blocks).
		adjust func(want map[string]Result, tr *Tree)
	}{
		{name: "all ok"},
		{name: "task fails at depth 3", fail: map[string]Block{"h13": BlockRemote}},
		{name: "locally fails", fail: map[string]Block{"h02": BlockLocally}},
		{name: "leaf fails", fail: map[string]Block{"h40": BlockRemote}},
		{
			name:        "unreachable node",
			unreachable: map[string]bool{"h05": true},
			adjust: func(want map[string]Result, tr *Tree) {
				failNode(want, tr, "h05", TaskFork, "grifork on h05: dial h05: connection refused")
			},
		},
		{
			name:     "grifork dies midway",
			dieAfter: map[string]int{"h02": 0},
			adjust: func(want map[string]Result, tr *Tree) {
				failNode(want, tr, "h02", TaskFork, "grifork on h02: Process exited with status 255")
			},
		},
		{
			name: "prepare_remote fails",
			fail: map[string]Block{"h04": BlockPrepareRemote},
			adjust: func(want map[string]Result, tr *Tree) {
				failNode(want, tr, "h04", BlockPrepareRemote, "prepare_remote failed on h04 …")
				for _, n := range descendants(findNode(tr, "h04")) {
					r := want[n.ID]
					r.Err = "prepare_remote on h04 failed"
					want[n.ID] = r
				}
			},
		},
		{
			name: "finish_remote fails",
			fail: map[string]Block{"h01": BlockFinishRemote},
			adjust: func(want map[string]Result, tr *Tree) {
				r := want[findNode(tr, "h01").ID]
				r.Status, r.Task, r.Err = StatusFailed, BlockFinishRemote, "finish_remote failed on h01 …"
				want[r.NodeID] = r
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := fleetTree(t, 40, 3)
			var console bytes.Buffer
			printer := NewPrinter(&console, nil)
			calls := &callLog{}
			root := &fakeTasks{fail: tc.fail, printer: printer, log: calls}
			ff := &fakeForker{base: root, unreachable: tc.unreachable, dieAfter: tc.dieAfter, forks: &callLog{}}

			rep, err := RunGrifork(context.Background(), tr, root, ff, GriforkOptions{Printer: printer})
			if err != nil {
				t.Fatalf("RunGrifork: %v", err)
			}
			if root.report != rep {
				t.Error("finish did not get the run's report")
			}
			want := standaloneOutcome(tr, tc.fail)
			if tc.adjust != nil {
				tc.adjust(want, tr)
			}
			got := rep.Results()
			if len(got) != 40 {
				t.Fatalf("report has %d results, want 40", len(got))
			}
			for i, r := range got {
				w := want[r.NodeID]
				if r.NodeID != nodeAt(tr, i+1).ID || r.Host != w.Host || r.Level != w.Level ||
					r.Status != w.Status || r.Task != w.Task || r.Err != w.Err {
					t.Errorf("result %d:\n got %+v\nwant %+v", i, r, w)
				}
				if r.Status == StatusOK && (r.Start.IsZero() || r.Duration <= 0) {
					t.Errorf("%s: ok without start/duration: %+v", r.Host, r)
				}
			}
			// Every task that ran printed a line, and every line reached the root
			// (unless its grifork's link broke).
			for _, c := range calls.sorted() {
				if c == "finish" || tc.dieAfter != nil {
					continue
				}
				if !strings.Contains(console.String(), " | "+c+"\n") {
					t.Errorf("console lacks %q:\n%s", c, console.String())
				}
			}
			// Each node forked only to its own children.
			for _, f := range ff.forks.sorted() {
				p, c, _ := strings.Cut(f, "->")
				if findNode(tr, c).Parent.Name() != p {
					t.Errorf("fork %s is not parent->child", f)
				}
			}
		})
	}
}

func TestRunGriforkRootBlocks(t *testing.T) {
	t.Parallel()
	tr := fleetTree(t, 13, 3)
	calls := &callLog{}
	root := &fakeTasks{fail: map[string]Block{RootHost: BlockPrepare}, printer: NewPrinter(io.Discard, nil), log: calls}
	ff := &fakeForker{base: root, forks: &callLog{}}
	rep, err := RunGrifork(context.Background(), tr, root, ff, GriforkOptions{})
	if err == nil || !strings.Contains(err.Error(), "prepare on localhost") {
		t.Fatalf("err = %v, want the prepare failure", err)
	}
	for _, r := range rep.Results() {
		if r.Status != StatusSkipped || r.Err != "prepare on localhost failed" {
			t.Errorf("%s: %+v, want skipped", r.Host, r)
		}
	}
	if got := calls.sorted(); !slices.Equal(got, []string{"prepare on localhost"}) {
		t.Errorf("calls = %q, want only prepare", got)
	}
}

func TestRunGriforkCancel(t *testing.T) {
	t.Parallel()
	tr := fleetTree(t, 40, 3)
	calls := &callLog{}
	root := &fakeTasks{block: map[string]bool{"h13": true}, printer: NewPrinter(io.Discard, nil), log: calls}
	ff := &fakeForker{base: root, forks: &callLog{}}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	rep, err := RunGrifork(ctx, tr, root, ff, GriforkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v after cancel", d)
	}
	r, _ := rep.Get(findNode(tr, "h13").ID)
	if r.Status != StatusFailed || !strings.Contains(r.Err, "context canceled") {
		t.Errorf("h13: %+v, want failed by cancel", r)
	}
	for _, r := range rep.Results() {
		if r.Status == StatusPending {
			t.Errorf("%s left pending", r.Host)
		}
	}
}

func TestRunGriforkRemoteNeedsEvents(t *testing.T) {
	t.Parallel()
	tr := fleetTree(t, 3, 3)
	if _, err := RunGrifork(context.Background(), tr, &fakeTasks{}, nil, GriforkOptions{Remote: true}); err == nil {
		t.Fatal("remote run without an event sink: no error")
	}
}

func failNode(want map[string]Result, tr *Tree, host string, task Block, msg string) {
	n := findNode(tr, host)
	r := want[n.ID]
	r.Status, r.Task, r.Err = StatusFailed, task, msg
	want[n.ID] = r
	for _, d := range descendants(n) {
		r := want[d.ID]
		r.Status, r.Err = StatusSkipped, "parent "+host+" failed"
		want[d.ID] = r
	}
}

func findNode(tr *Tree, host string) *Node {
	var found *Node
	tr.Walk(func(n *Node) {
		if n.Name() == host {
			found = n
		}
	})
	return found
}

func nodeAt(tr *Tree, index int) *Node {
	var found *Node
	tr.Walk(func(n *Node) {
		if n.Index == index {
			found = n
		}
	})
	return found
}
