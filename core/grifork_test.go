package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/grifork/grifork/internal/testkit/golden"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grifork/grifork/core/output"
)

// fakeTasks records every task it runs and fails the ones listed in fail
// (host → block; the host is Dst for edges, Src for a node's own blocks). Each
// simulated process has its own instance (own Printer) sharing the call log.
type fakeTasks struct {
	fail  map[string]Block
	block map[string]bool          // hosts whose edge task waits for ctx to end
	slow  map[string]time.Duration // hosts whose edge task takes this long
	// after: hosts whose edge task, before it ends, waits until the edge tasks
	// to these hosts have started (an order a test needs, not left to timing).
	after map[string][]string
	// until: hosts whose edge task, before it ends, waits until this channel
	// is closed (by an event the test waits for), its ctx ends or waitTimeout.
	until map[string]chan struct{}
	// untilHalt: hosts whose edge task, before it ends, waits until the run
	// of its node halts (HaltFrom), its ctx ends or waitTimeout.
	untilHalt map[string]bool
	printer   *output.Printer
	log       *callLog
	report    *Report // what finish received
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

// await returns once the log holds an edge task to each of hosts, or ctx ends.
func (c *callLog) await(ctx context.Context, hosts []string) {
	for ctx.Err() == nil {
		c.mu.Lock()
		n := 0
		for _, h := range hosts {
			if slices.ContainsFunc(c.calls, func(s string) bool { return strings.HasSuffix(s, "->"+h) }) {
				n++
			}
		}
		c.mu.Unlock()
		if n == len(hosts) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *callLog) sorted() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.calls)
	slices.Sort(out)
	return out
}

func (ft *fakeTasks) with(p *output.Printer) *fakeTasks {
	return &fakeTasks{fail: ft.fail, block: ft.block, slow: ft.slow, after: ft.after, until: ft.until, untilHalt: ft.untilHalt, printer: p, log: ft.log}
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
	if d := ft.slow[host]; d > 0 && e.Dst != nil {
		time.Sleep(d)
	}
	if hosts := ft.after[host]; len(hosts) > 0 && e.Dst != nil {
		ft.log.await(ctx, hosts)
	}
	if ch := ft.until[host]; ch != nil && e.Dst != nil {
		select {
		case <-ch:
		case <-ctx.Done():
		case <-time.After(waitTimeout):
		}
	}
	if ft.untilHalt[host] && e.Dst != nil {
		select {
		case <-HaltFrom(ctx).Done():
		case <-ctx.Done():
		case <-time.After(waitTimeout):
		}
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
	panics      map[string]bool
	forks       *callLog
	// With heartbeats, it acts like the real Forker: a heartbeat of child when
	// its grifork starts, which heartbeats at its own pace; frozen hosts say
	// nothing after that (SIGSTOP).
	heartbeats bool
	frozen     map[string]bool
	timeout    time.Duration // the grifork { heartbeat_timeout } of every node
	misrouted  atomic.Int32  // heartbeats of another node than the forked child
	heal       bool          // every node's GriforkOptions.Heal
	// cut: host → a test of the events its grifork sends; its grifork dies
	// (its ctx is cancelled, its link breaks) right after the first one that passes.
	cut map[string]func(Event) bool
	// lostOnCancel: hosts whose events no longer reach their parent once the
	// fork is cancelled (the real Forker shuts the session's output).
	lostOnCancel map[string]bool
	// heard, when set, is called with each event a fork delivers, once delivered.
	heard func(child *Node, ev Event)
}

func (ff *fakeForker) Fork(ctx context.Context, parent, child *Node, sub *Tree, events func(Event)) error {
	ff.forks.add(parent.Name() + "->" + child.Name())
	if ff.heartbeats {
		next := events
		events = func(ev Event) {
			if ev.Type == EventHeartbeat && ev.NodeID != child.ID {
				ff.misrouted.Add(1)
			}
			next(ev)
		}
		events(Event{Type: EventHeartbeat, NodeID: child.ID, Host: child.Name()})
	}
	if ff.frozen[child.Name()] {
		<-ctx.Done()
		return fmt.Errorf("remote grifork: %w", ctx.Err())
	}
	if ff.unreachable[child.Name()] {
		return fmt.Errorf("dial %s: connection refused", child.Name())
	}
	if ff.panics[child.Name()] {
		panic("nil map")
	}
	if ff.lostOnCancel[child.Name()] {
		next := events
		events = func(ev Event) {
			if ctx.Err() == nil {
				next(ev)
			}
		}
	}
	if ff.heard != nil {
		next := events
		events = func(ev Event) {
			next(ev)
			ff.heard(child, ev)
		}
	}
	remoteTree, err := roundTripTree(sub)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	n, dies := ff.dieAfter[child.Name()]
	rctx, kill := context.WithCancel(ctx)
	defer kill()
	var killed atomic.Bool
	go func() {
		var w io.Writer = pw
		if dies {
			w = &breakingWriter{w: pw, left: n}
		}
		ew := NewEventWriter(w, nil)
		emit := ew.Emit
		if cut := ff.cut[child.Name()]; cut != nil {
			var mu sync.Mutex
			emit = func(ev Event) {
				mu.Lock()
				defer mu.Unlock()
				if killed.Load() {
					return
				}
				ew.Emit(ev)
				if cut(ev) {
					killed.Store(true)
					kill()
				}
			}
		}
		out := ew.OutputWriter(remoteTree.Root, StreamConsole)
		tasks := ff.base.with(output.NewPrinter(out, nil))
		RunGrifork(rctx, remoteTree, tasks, ff, GriforkOptions{Remote: true, Events: emit, HeartbeatTimeout: ff.timeout, Heal: ff.heal,
			Halt: forwardHalt(rctx)})
		pw.Close()
	}()
	if err := ReadEvents(pr, child, events); err != nil {
		return err
	}
	if dies || killed.Load() {
		return errors.New("Process exited with status 255")
	}
	return nil
}

// forwardHalt is the child's Halt, fired as the real Forker's stop line does:
// when the parent's (which ctx carries) fires, with its reason, until ctx ends.
func forwardHalt(ctx context.Context) *Halt {
	h, parent := NewHalt(), HaltFrom(ctx)
	go func() {
		select {
		case <-parent.Done():
			why, _ := parent.Reason()
			h.Fire(why)
		case <-ctx.Done():
		}
	}()
	return h
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
	b, err := MarshalTree(t)
	if err != nil {
		return nil, err
	}
	return UnmarshalTree(b)
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

// standaloneOutcome is what RunStandalone gives for the same tasks, by node id.
func standaloneOutcome(t *testing.T, tr *Tree, fail map[string]Block) map[string]Result {
	t.Helper()
	tasks := &fakeTasks{fail: fail, printer: output.NewPrinter(io.Discard, nil), log: &callLog{}}
	rep := RunStandalone(context.Background(), tr, tasks, RunOptions{Barrier: true})
	out := map[string]Result{}
	for _, r := range rep.Results() {
		out[r.NodeID] = r
	}
	return out
}

func TestRunGrifork(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		fail        map[string]Block
		unreachable map[string]bool
		dieAfter    map[string]int
		panics      map[string]bool
		runErrs     []RunError
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
			name:   "forker panics",
			panics: map[string]bool{"h05": true},
			adjust: func(want map[string]Result, tr *Tree) {
				failNode(want, tr, "h05", TaskFork, "grifork on h05: internal error: panic: nil map")
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
			name:    "prepare_remote fails",
			fail:    map[string]Block{"h04": BlockPrepareRemote},
			runErrs: []RunError{{Task: BlockPrepareRemote, Host: "h04", Err: "prepare_remote failed on h04; second line"}},
			adjust: func(want map[string]Result, tr *Tree) {
				walkBelow(find(tr, "0.0-1.0-2.0"), func(n *Node) {
					r := want[n.ID]
					r.Status, r.Err = StatusSkipped, "prepare_remote on h04 failed: prepare_remote failed on h04; second line"
					want[n.ID] = r
				})
			},
		},
		{
			name:    "finish_remote fails",
			fail:    map[string]Block{"h01": BlockFinishRemote},
			runErrs: []RunError{{Task: BlockFinishRemote, Host: "h01", Err: "finish_remote failed on h01; second line"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := fleetTree(t, 40, 3)
			var console bytes.Buffer
			printer := output.NewPrinter(&console, nil)
			calls := &callLog{}
			root := &fakeTasks{fail: tc.fail, printer: printer, log: calls}
			ff := &fakeForker{base: root, unreachable: tc.unreachable, dieAfter: tc.dieAfter, panics: tc.panics, forks: &callLog{}}

			rep := RunGrifork(context.Background(), tr, root, ff, GriforkOptions{Printer: printer})
			if root.report != rep {
				t.Error("finish did not get the run's report")
			}
			if got := rep.RunErrors(); fmt.Sprint(got) != fmt.Sprint(tc.runErrs) {
				t.Errorf("run errors = %+v, want %+v", got, tc.runErrs)
			}
			want := standaloneOutcome(t, tr, tc.fail)
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
				if n := findNode(tr, c); n.Parent.Name() != p || len(n.Children) == 0 {
					t.Errorf("fork %s is not parent->child with children", f)
				}
			}
		})
	}
}

func TestRunGriforkPrepareFails(t *testing.T) {
	t.Parallel()
	tr := fleetTree(t, 13, 3)
	calls := &callLog{}
	root := &fakeTasks{fail: map[string]Block{RootHost: BlockPrepare}, printer: output.NewPrinter(io.Discard, nil), log: calls}
	ff := &fakeForker{base: root, forks: &callLog{}}
	rep := RunGrifork(context.Background(), tr, root, ff, GriforkOptions{})
	want := standaloneOutcome(t, tr, root.fail)
	for _, r := range rep.Results() {
		w := want[r.NodeID]
		if r.Status != StatusSkipped || r.Status != w.Status || r.Err != w.Err || r.Task != w.Task {
			t.Errorf("%s: %+v, want %+v", r.Host, r, w)
		}
	}
	errs := rep.RunErrors()
	if len(errs) != 1 || errs[0].Task != BlockPrepare || errs[0].Host != RootHost {
		t.Errorf("run errors = %+v, want the prepare failure", errs)
	}
	if got := calls.sorted(); !slices.Equal(got, []string{"finish", "prepare on localhost"}) {
		t.Errorf("calls = %q, want prepare and finish only", got)
	}
}

func TestRunGriforkCancel(t *testing.T) {
	t.Parallel()
	tr := fleetTree(t, 40, 3)
	calls := &callLog{}
	root := &fakeTasks{block: map[string]bool{"h13": true}, printer: output.NewPrinter(io.Discard, nil), log: calls}
	ff := &fakeForker{base: root, forks: &callLog{}}
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once h13's task runs (a fixed delay loses the race on a loaded
	// machine, and h13 is skipped instead).
	go func() {
		defer cancel()
		for !slices.ContainsFunc(calls.sorted(), func(c string) bool { return strings.HasSuffix(c, "->h13") }) {
			time.Sleep(5 * time.Millisecond)
		}
	}()
	// h13 only ends when cancelled: that RunGrifork returns is the check.
	rep := RunGrifork(ctx, tr, root, ff, GriforkOptions{})
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

// A node whose grifork freezes is failed after the heartbeat timeout and its
// subtree skipped; one that is only slow keeps heartbeating and is not.
// Heartbeats go no further than the parent: never to the console or the log.
func TestRunGriforkHeartbeat(t *testing.T) {
	// Not parallel with the package's other tests: on a loaded machine
	// (-race, -cpu 1, load 20) their work starved the beats of live nodes for
	// a timeout, even of 1 s (0.3 s failed more often). A live node beats
	// every quarter of it.
	const timeout = time.Second
	tests := []struct {
		name   string
		frozen map[string]bool
		beats  int               // h01's remote block toward h05 lasts until the root has heard this many beats from h01
		stall  time.Duration     // the first write to the root's console takes this long
		want   map[string]string // host -> status: err; every other host ok
	}{
		{name: "frozen node", frozen: map[string]bool{"h02": true}, want: map[string]string{
			"h02": "failed: no heartbeat from grifork on h02 for 1s",
			"h07": "skipped: parent h02 failed", "h08": "skipped: parent h02 failed", "h09": "skipped: parent h02 failed"}},
		{name: "frozen deeper", frozen: map[string]bool{"h04": true}, want: map[string]string{
			"h04": "failed: no heartbeat from grifork on h04 for 1s", "h13": "skipped: parent h04 failed"}},
		// h01's remote block toward h05 runs for 6 of h01's beats, 1.5
		// timeouts or more: h01 keeps beating.
		{name: "slow but alive", beats: 6},
		// The root's console takes 2 timeouts to write h05's line, relayed by
		// h01: the forks' events wait, and nobody is failed for it.
		{name: "the root's output is slow", stall: 2 * timeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := fleetTree(t, 13, 3)
			var console bytes.Buffer
			var logs syncBuffer
			printer := output.NewPrinter(&stallingWriter{w: &console, stall: tc.stall}, nil)
			root := &fakeTasks{printer: printer, log: &callLog{}}
			// As with the real Forker, a fork stopped for its silence says nothing more.
			lost := map[string]bool{"h01": true, "h02": true, "h03": true}
			ff := &fakeForker{base: root, forks: &callLog{}, heartbeats: true, frozen: tc.frozen, timeout: timeout, lostOnCancel: lost}
			if tc.beats > 0 {
				beaten := make(chan struct{})
				root.until = map[string]chan struct{}{"h05": beaten}
				var heard atomic.Int32
				ff.heard = func(child *Node, ev Event) {
					if child.Name() == "h01" && ev.Type == EventHeartbeat && heard.Add(1) == int32(tc.beats) {
						close(beaten)
					}
				}
			}
			done := make(chan *Report, 1)
			start := time.Now()
			go func() {
				done <- RunGrifork(context.Background(), tr, root, ff, GriforkOptions{Printer: printer,
					Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), HeartbeatTimeout: timeout})
			}()
			var rep *Report
			select {
			case rep = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("a frozen node hung the run")
			}
			t.Logf("run took %s", time.Since(start).Round(time.Millisecond))
			for _, r := range rep.Results() {
				got := string(r.Status)
				if r.Err != "" {
					got += ": " + r.Err
				}
				want := tc.want[r.Host]
				if want == "" {
					want = "ok"
				}
				if got != want {
					t.Errorf("%s: %s, want %s", r.Host, got, want)
				}
			}
			if r, _ := rep.Get(findNode(tr, "h02").ID); tc.frozen["h02"] && r.Task != TaskFork {
				t.Errorf("h02: task %q, want %q", r.Task, TaskFork)
			}
			if n := ff.misrouted.Load(); n > 0 {
				t.Errorf("%d heartbeats were relayed beyond their parent", n)
			}
			for what, text := range map[string]string{"console": console.String(), "log": logs.String()} {
				if strings.Contains(text, "heartbeat\"") || strings.Contains(text, "type=heartbeat") {
					t.Errorf("a heartbeat reached the %s:\n%s", what, text)
				}
			}
		})
	}
}

// stallingWriter takes stall over the first write of a line relayed from a
// grifork below the root (h05's), like a pipe whose reader pauses.
type stallingWriter struct {
	w       io.Writer
	stall   time.Duration
	stalled bool
}

func (s *stallingWriter) Write(b []byte) (int, error) {
	if !s.stalled && bytes.HasPrefix(b, []byte("h05 | ")) {
		s.stalled = true
		time.Sleep(s.stall)
	}
	return s.w.Write(b)
}

// A remote grifork heartbeats on its own while its tasks run, and stops before
// its done event, which stays the last.
func TestRemoteGriforkHeartbeats(t *testing.T) {
	t.Parallel()
	tr := fleetTree(t, 3, 3)
	var mu sync.Mutex
	var got []EventType
	// h01's task ends once the node has sent 3 heartbeats: a fixed 250 ms
	// held fewer on a loaded machine.
	beaten := make(chan struct{})
	beats := 0
	tasks := &fakeTasks{until: map[string]chan struct{}{"h01": beaten}, printer: output.NewPrinter(io.Discard, nil), log: &callLog{}}
	RunGrifork(context.Background(), tr, tasks, &fakeForker{base: tasks, forks: &callLog{}}, GriforkOptions{Remote: true,
		HeartbeatTimeout: 200 * time.Millisecond, // a beat every 50ms
		Events: func(ev Event) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, ev.Type)
			if ev.Type == EventHeartbeat {
				if beats++; beats == 3 {
					close(beaten)
				}
			}
		}})
	if beats < 3 || got[len(got)-1] != EventDone {
		t.Errorf("events = %v, want 3 or more heartbeats during h01's task and done last", got)
	}
}

func failNode(want map[string]Result, tr *Tree, host string, task Block, msg string) {
	n := findNode(tr, host)
	r := want[n.ID]
	r.Status, r.Task, r.Err = StatusFailed, task, msg
	want[n.ID] = r
	walkBelow(n, func(d *Node) {
		r := want[d.ID]
		r.Status, r.Err = StatusSkipped, "parent "+host+" failed"
		want[d.ID] = r
	})
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

// griforkDSL adds grifork mode's node blocks to dslLike.
type griforkDSL struct{ dslLike }

func (d griforkDSL) Run(ctx context.Context, e Edge) error {
	if e.Block == BlockPrepareRemote || e.Block == BlockFinishRemote {
		_, err := d.x.Local(ctx, []string{"logger", string(e.Block) + " on " + e.Src.Name()})
		return err
	}
	return d.dslLike.Run(ctx, e)
}

// The plan of a grifork-mode dry run shows every node's edges, each fork under
// the edge that leads to the forked node, and touches nothing.
func TestGriforkPlan(t *testing.T) {
	t.Parallel()
	hosts := append(webHosts(6), Host{Name: "db1", User: "deploy", Port: 2222})
	tr, err := BuildTree(hosts, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Mode: Grifork, Branches: 2, Hosts: hosts, SSH: SSHConfig{Password: "hunter2"}}
	rec := NewRecorder(testRsh, cfg.SSH.Redactor())
	cmdline := func(n *Node) string {
		return "cd /tmp/grifork && /tmp/grifork/grifork-0123456789ab --on-remote --tree tree.json # " + n.ID
	}
	rep := PlanGrifork(context.Background(), tr, griforkDSL{dslLike{rec}}, rec, cmdline, GriforkOptions{})
	if !rep.OK() {
		var b bytes.Buffer
		rep.WriteSummary(&b)
		t.Fatalf("dry run failed:\n%s", b.String())
	}
	var out bytes.Buffer
	if err := WriteGriforkPlan(&out, tr, Config{}, rec, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Error("plan shows the password")
	}
	golden.Check(t, "testdata/grifork_plan.txt", out.String())
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A remote grifork stopped before its own part ran did not do it: its done
// event says it failed, never ok (a parent would count the host as done).
func TestRemoteGriforkStoppedBeforeItRanFails(t *testing.T) {
	t.Parallel()
	tr := fleetTree(t, 3, 3)
	tasks := &fakeTasks{printer: output.NewPrinter(io.Discard, nil), log: &callLog{}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var done []Event
	var mu sync.Mutex
	RunGrifork(ctx, tr, tasks, &fakeForker{base: tasks, forks: &callLog{}}, GriforkOptions{Remote: true,
		Events: func(ev Event) {
			mu.Lock()
			defer mu.Unlock()
			if ev.Type == EventDone {
				done = append(done, ev)
			}
		}})
	if len(done) != 1 || done[0].Status != StatusFailed || !strings.Contains(done[0].Err, "cancel") {
		t.Errorf("done events %+v; want one, failed because it was cancelled", done)
	}
}
