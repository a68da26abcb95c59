package core

import (
	"context"
	"errors"
	"slices"
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
		r := BroadcastResult{Status: StatusOK, Via: n.Parent.Name(), Bytes: 42}
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
