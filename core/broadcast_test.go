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

// fakeBroadcaster returns a result per host of its tree: failed for the hosts
// in fail, ok for the others; err fails the whole broadcast.
type fakeBroadcaster struct {
	fail  map[string]string
	err   error
	calls int
	tree  *Tree
}

func (b *fakeBroadcaster) Broadcast(ctx context.Context, t *Tree) (map[string]BroadcastResult, error) {
	b.calls++
	b.tree = t
	if b.err != nil {
		return nil, b.err
	}
	out := map[string]BroadcastResult{}
	t.Walk(func(n *Node) {
		if n.IsRoot() {
			return
		}
		r := BroadcastResult{Status: StatusOK, Via: n.Parent.Name(), Received: 42}
		if why, ok := b.fail[n.Name()]; ok {
			r = BroadcastResult{Status: StatusFailed, Via: n.Parent.Name(), Err: why}
		}
		out[n.Name()] = r
	})
	return out, nil
}

// The broadcast runs once, after prepare and along its own tree; a host it
// missed fails its edge with task "broadcast" and its block does not run; the
// hosts below it still run theirs (they have their own copy), from a healthy
// source in standalone mode; finish's report carries every host's part.
func TestBroadcastTasks(t *testing.T) {
	t.Parallel()
	hosts := manyHosts(7) // branches 2: h1 (h3 (h7), h4), h2 (h5, h6)
	for _, mode := range []Mode{Standalone, Grifork} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			tree, err := BuildTree(hosts, 2)
			if err != nil {
				t.Fatal(err)
			}
			chain, _ := BuildTree(hosts, 1)
			b := &fakeBroadcaster{fail: map[string]string{"h3": "SHA-256 mismatch"}}
			f := &schedFake{}
			bt := WithBroadcast(f, b, chain)
			var r *Report
			if mode == Standalone {
				r = RunStandalone(context.Background(), tree, bt, RunOptions{Barrier: true})
			} else {
				r = RunGrifork(context.Background(), tree, bt, inProcessForker{tasks: bt}, GriforkOptions{})
			}
			if b.calls != 1 || b.tree != chain {
				t.Fatalf("broadcast ran %d times (tree %p, want the chain %p)", b.calls, b.tree, chain)
			}
			calls := f.check(t)
			if calls[0].block != BlockPrepare {
				t.Errorf("first call %v, want prepare (the broadcast runs after it)", calls[0])
			}
			for _, c := range calls {
				if c.dst == "h3" {
					t.Errorf("h3's block ran although its broadcast failed: %v", c)
				}
			}
			if !slices.ContainsFunc(calls, func(c taskCall) bool { return c.dst == "h7" }) {
				t.Errorf("h7, below h3, did not run its block: %v", calls)
			}
			for _, res := range r.Results() {
				want := StatusOK
				if res.Host == "h3" {
					want = StatusFailed
					if res.Task != BlockBroadcast || res.Err != "SHA-256 mismatch" {
						t.Errorf("h3: task %q err %q, want broadcast / SHA-256 mismatch", res.Task, res.Err)
					}
				}
				if res.Status != want {
					t.Errorf("%s: %s (%s), want %s", res.Host, res.Status, res.Err, want)
				}
				if res.Broadcast == nil {
					t.Errorf("%s: no broadcast result in the report", res.Host)
				}
			}
			if f.finished == nil || f.finished.Results()[0].Broadcast == nil {
				t.Error("finish's report lacks the broadcast results")
			}
			if r.OK() {
				t.Error("report OK with a failed broadcast")
			}
		})
	}
}

// A broadcast that cannot start (an unreadable source) fails like prepare:
// a run error named broadcast, every host skipped, no edge block runs.
func TestBroadcastThatCannotStart(t *testing.T) {
	t.Parallel()
	tree, _ := BuildTree(manyHosts(3), 2)
	b := &fakeBroadcaster{err: errors.New("source /x/dev: a device file")}
	f := &schedFake{}
	r := RunStandalone(context.Background(), tree, WithBroadcast(f, b, tree), RunOptions{Barrier: true})
	errs := r.RunErrors()
	if len(errs) != 1 || errs[0].Task != BlockBroadcast || errs[0].Err != "source /x/dev: a device file" {
		t.Fatalf("run errors %+v, want one broadcast error", errs)
	}
	if n := r.Count(StatusSkipped); n != 3 {
		t.Errorf("%d hosts skipped, want 3", n)
	}
	for _, c := range f.check(t) {
		if c.dst != "" {
			t.Errorf("edge block ran: %v", c)
		}
	}
}

// inProcessForker plays each child's grifork in this process, with the hosts
// the broadcast missed handed down as the real fork does (--precluded).
type inProcessForker struct{ tasks *BroadcastTasks }

func (p inProcessForker) Fork(ctx context.Context, parent, child *Node, sub *Tree, events func(Event)) error {
	var mu sync.Mutex // the Forker contract: events are delivered one at a time
	one := func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		events(ev)
	}
	RunGrifork(ctx, sub, Precluded(p.tasks.Tasks, p.tasks.FailedHosts()), p, GriforkOptions{Remote: true, Events: one})
	return nil
}

// cancellingBroadcaster is a broadcast that Ctrl-C stops near its end: it
// cancels the run and returns what each relay reported by then.
type cancellingBroadcaster struct {
	cancel context.CancelFunc
	res    map[string]BroadcastResult
}

func (b *cancellingBroadcaster) Broadcast(ctx context.Context, t *Tree) (map[string]BroadcastResult, error) {
	b.cancel()
	return b.res, nil
}

// edgeless is a copy's Tasks: no edge block, only the broadcast.
type edgeless struct{ *schedFake }

func (edgeless) Defined(b Block) bool { return b != BlockLocally && b != BlockRemote }

// Ctrl-C during the broadcast (issue 17): a host whose commit finished is ok
// when it has no block to run, skipped (cancelled) when its block did not
// run; one whose broadcast was cut short is failed with the broadcast's words;
// the summary, the report and r.broadcast agree, in both modes, and the
// summary has no re-attached lines without --heal.
func TestBroadcastInterrupted(t *testing.T) {
	t.Parallel()
	hosts := manyHosts(3) // branches 1: h1 -> h2 -> h3
	mid := "interrupted during its commit: 3 of 9 paths under /srv/app replaced"
	res := map[string]BroadcastResult{
		"h1": {Status: StatusOK, Via: RootHost},
		"h2": {Status: StatusFailed, Via: "h1", Err: mid},
		"h3": {Status: StatusFailed, Via: "h2", Err: "interrupt signal received"},
	}
	for _, mode := range []Mode{Standalone, Grifork} {
		for _, blocks := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s blocks=%v", mode, blocks), func(t *testing.T) {
				t.Parallel()
				tree, err := BuildTree(hosts, 1)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var tasks Tasks = edgeless{&schedFake{}}
				h1 := "h1=ok"
				if blocks {
					tasks, h1 = &schedFake{}, "h1=skipped(cancelled)"
				}
				bt := WithBroadcast(tasks, &cancellingBroadcaster{cancel: cancel, res: res}, tree)
				var r *Report
				if mode == Standalone {
					r = RunStandalone(ctx, tree, bt, RunOptions{Barrier: true})
				} else {
					r = RunGrifork(ctx, tree, bt, inProcessForker{tasks: bt}, GriforkOptions{})
				}
				bt.Attach(r)
				want := h1 + " h2=failed(" + mid + ") h3=failed(interrupt signal received)"
				if got := statuses(r); got != want {
					t.Errorf("got  %s\nwant %s", got, want)
				}
				for _, x := range r.Results() {
					if x.Broadcast == nil || x.Broadcast.Status != res[x.Host].Status {
						t.Errorf("%s: r.broadcast %+v, want status %s", x.Host, x.Broadcast, res[x.Host].Status)
					}
					if x.Status == StatusFailed && x.Task != BlockBroadcast {
						t.Errorf("%s: failed in task %q, want broadcast", x.Host, x.Task)
					}
				}
				var b bytes.Buffer
				if err := r.WriteSummary(&b); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(b.String(), "  h2 (0.0-1.0-2.0) broadcast: "+mid+"\n") || strings.Contains(b.String(), "re-attached") {
					t.Errorf("summary:\n%s", b.String())
				}
			})
		}
	}
}

// A host the broadcast missed: the summary has no re-attached line without
// --heal (its children's blocks run from a host that has the data all the
// same), and the log tags the failure task=broadcast, as the summary does.
func TestBroadcastFailureWords(t *testing.T) {
	t.Parallel()
	tree, err := BuildTree(manyHosts(3), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, heal := range []bool{false, true} {
		var log bytes.Buffer
		b := &fakeBroadcaster{fail: map[string]string{"h1": "no progress for 10s"}}
		r := RunStandalone(context.Background(), tree, WithBroadcast(&schedFake{}, b, tree),
			RunOptions{Barrier: true, Heal: heal, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		var sum bytes.Buffer
		if err := r.WriteSummary(&sum); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(sum.String(), "re-attached:"); got != heal {
			t.Errorf("heal=%v: re-attached lines %v:\n%s", heal, got, sum.String())
		}
		if !strings.Contains(log.String(), `msg="task failed" task=broadcast src=localhost dst=h1`) {
			t.Errorf("heal=%v: the log does not tag h1's failure task=broadcast:\n%s", heal, log.String())
		}
	}
}

// -n says how the streams travel: with direct streams, that every relay
// opens a TCP port (an operator's policy may forbid it); without, that none
// does.
func TestBroadcastPlanSaysHowStreamsTravel(t *testing.T) {
	t.Parallel()
	no := false
	tests := []struct {
		name   string
		direct *bool
		want   string
	}{
		{"the default: direct", nil, "each relay listens on a TCP port"},
		{"direct = false", &no, "no relay listens on a TCP port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tree, err := BuildTree(manyHosts(3), 2)
			if err != nil {
				t.Fatal(err)
			}
			cfg := &BroadcastConfig{From: "app", To: "/srv/app", Direct: tt.direct}
			var b bytes.Buffer
			if err := WriteBroadcastPlan(&b, cfg, tree, "grifork --relay", false, "1 file, 3 bytes"); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tt.want) {
				t.Errorf("plan lacks %q:\n%s", tt.want, b.String())
			}
		})
	}
}
