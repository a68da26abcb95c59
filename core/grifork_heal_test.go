package core

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/core/output"
)

// outcome is a result as the tests below compare it: "ok", or the status and
// its reason.
func outcome(r Result) string {
	if r.Err == "" {
		return string(r.Status)
	}
	return string(r.Status) + ": " + r.Err
}

// startedAll returns an event test that passes once it has seen the started
// events of every one of hosts.
func startedAll(hosts ...string) func(Event) bool {
	seen := map[string]bool{}
	return func(ev Event) bool {
		if ev.Type == EventStarted && slices.Contains(hosts, ev.Host) {
			seen[ev.Host] = true
		}
		return len(seen) == len(hosts)
	}
}

// closing returns test, closing ch the first time it passes.
func closing(ch chan struct{}, test func(Event) bool) func(Event) bool {
	closeCh := sync.OnceFunc(func() { close(ch) })
	return func(ev Event) bool {
		if test(ev) {
			closeCh()
			return true
		}
		return false
	}
}

// resultsAll is startedAll for ok results.
func resultsAll(hosts ...string) func(Event) bool {
	seen := map[string]bool{}
	return func(ev Event) bool {
		if ev.Type == EventResult && ev.Status == StatusOK && slices.Contains(hosts, ev.Host) {
			seen[ev.Host] = true
		}
		return len(seen) == len(hosts)
	}
}

// One rule for both modes: a task that was running when the run was cancelled
// is failed with the cause, also when its result was lost on the way up; a
// host whose copy was running when its source died is failed; hosts not started
// are skipped.
func TestGriforkStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		hosts        int
		block        []string
		lostOnCancel []string
		cut          map[string]func(Event) bool
		cancelOn     [2]string         // cancel once the fork to [0] delivered the started event of [1]
		want         map[string]string // host → outcome
		othersOK     bool              // every host not in want is ok
	}{
		{
			// h13's task runs on h04's grifork, forked by h01: h01's events
			// stop reaching the root at the interrupt.
			name: "interrupt, result lost at the root", hosts: 40, block: []string{"h13"},
			lostOnCancel: []string{"h01"}, cancelOn: [2]string{"h01", "h13"},
			want: map[string]string{"h13": "failed: interrupt signal received", "h40": "skipped: cancelled"},
		},
		{
			name: "interrupt, result lost at a node", hosts: 40, block: []string{"h13"},
			lostOnCancel: []string{"h04"}, cancelOn: [2]string{"h04", "h13"},
			want: map[string]string{"h13": "failed: interrupt signal received", "h40": "skipped: cancelled"},
		},
		{
			name: "interrupt, result arrives", hosts: 40, block: []string{"h13"}, cancelOn: [2]string{"h04", "h13"},
			want: map[string]string{"h13": "failed: interrupt signal received", "h40": "skipped: cancelled"},
		},
		{
			// h02's grifork dies while it copies to its three children; h22,
			// below h07, never started.
			name: "source dies mid-copy", hosts: 22, block: []string{"h07", "h08", "h09"},
			cut: map[string]func(Event) bool{"h02": startedAll("h07", "h08", "h09")},
			want: map[string]string{
				"h02": "failed: grifork on h02: Process exited with status 255",
				"h07": "failed: its source h02 died mid-copy: grifork on h02: Process exited with status 255",
				"h08": "failed: its source h02 died mid-copy: grifork on h02: Process exited with status 255",
				"h09": "failed: its source h02 died mid-copy: grifork on h02: Process exited with status 255",
				"h22": "skipped: parent h02 failed",
			},
			othersOK: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := fleetTree(t, tc.hosts, 3)
			calls := &callLog{}
			block := map[string]bool{}
			for _, h := range tc.block {
				block[h] = true
			}
			lost := map[string]bool{}
			for _, h := range tc.lostOnCancel {
				lost[h] = true
			}
			root := &fakeTasks{block: block, printer: output.NewPrinter(io.Discard, nil), log: calls}
			ff := &fakeForker{base: root, forks: &callLog{}, cut: tc.cut, lostOnCancel: lost}
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			ff.heard = func(child *Node, ev Event) {
				if child.Name() == tc.cancelOn[0] && ev.Type == EventStarted && ev.Host == tc.cancelOn[1] {
					cancel(errors.New("interrupt signal received"))
				}
			}
			rep := RunGrifork(ctx, tr, root, ff, GriforkOptions{})
			for _, r := range rep.Results() {
				want, ok := tc.want[r.Host]
				if !ok && tc.othersOK {
					want, ok = "ok", true
				}
				if got := outcome(r); ok && got != want || r.Status == StatusPending {
					t.Errorf("%s: %s, want %s", r.Host, got, want)
				}
			}
		})
	}
}

// scriptForker plays, for the fork to one host, a grifork that reports the
// given events, and for any other a grifork whose every host is ok.
type scriptForker struct {
	host   string
	events []Event
}

func (s *scriptForker) Fork(ctx context.Context, parent, child *Node, sub *Tree, events func(Event)) error {
	if child.Name() == s.host {
		for _, ev := range s.events {
			events(ev)
		}
	} else {
		walkBelow(sub.Root, func(n *Node) {
			events(ResultEvent(Result{NodeID: n.ID, Host: n.Name(), Status: StatusOK, Task: BlockRemote}))
		})
	}
	events(Event{Type: EventDone, NodeID: child.ID, Host: child.Name(), Status: StatusOK})
	return nil
}

// A finished task keeps its result: what a node reports later about a host
// that already has one changes it neither at the root nor on the way up, except
// that a host's own grifork failing after its copy fails it.
func TestGriforkKeepsResults(t *testing.T) {
	t.Parallel()
	tr := fleetTree(t, 12, 3) // h02 has h07, h08, h09
	res := func(host string, st Status, task Block, err string) Event {
		return ResultEvent(Result{NodeID: findNode(tr, host).ID, Host: host, Status: st, Task: task, Err: err})
	}
	script := []Event{
		res("h07", StatusOK, BlockRemote, ""),
		res("h07", StatusSkipped, BlockRemote, "cancelled"),
		res("h08", StatusFailed, BlockRemote, "boom"),
		res("h08", StatusSkipped, BlockRemote, "parent h02 failed"),
		res("h08", StatusOK, BlockRemote, ""),
		res("h09", StatusOK, BlockRemote, ""),
		res("h09", StatusFailed, TaskFork, "grifork on h09: gone"),
	}
	want := map[string]string{"h07": "ok", "h08": "failed: boom", "h09": "failed: grifork on h09: gone"}
	tasks := &fakeTasks{printer: output.NewPrinter(io.Discard, nil), log: &callLog{}}

	rep := RunGrifork(context.Background(), tr, tasks, &scriptForker{host: "h02", events: script}, GriforkOptions{})
	for _, r := range rep.Results() {
		w := want[r.Host]
		if w == "" {
			w = "ok"
		}
		if got := outcome(r); got != w {
			t.Errorf("root: %s: %s, want %s", r.Host, got, w)
		}
	}

	// The same on a node: the events it sends up say what its report says.
	var mu sync.Mutex
	sent := map[string][]string{}
	RunGrifork(context.Background(), tr, tasks, &scriptForker{host: "h02", events: script}, GriforkOptions{Remote: true,
		Events: func(ev Event) {
			mu.Lock()
			defer mu.Unlock()
			if ev.Type == EventResult && want[ev.Host] != "" {
				sent[ev.Host] = append(sent[ev.Host], outcome(ev.Result(0)))
			}
		}})
	wantSent := map[string][]string{"h07": {"ok"}, "h08": {"failed: boom"}, "h09": {"ok", "failed: grifork on h09: gone"}}
	for h, w := range wantSent {
		if !slices.Equal(sent[h], w) {
			t.Errorf("node sent up for %s: %q, want %q", h, sent[h], w)
		}
	}
}

// With Heal, the children of a node that failed (its edge task, or its
// grifork: unreachable, dead, frozen) are re-attached to the node's parent,
// which serves them and forks on them with their own subtrees; a child that has
// its copy but whose subtree was cut off gets its grifork again.
func TestGriforkHeal(t *testing.T) {
	// Not parallel with the package's other tests, whose work starved the
	// beats of live griforks for a timeout on a loaded machine (see
	// TestRunGriforkHeartbeat). Every fake grifork beats 4 times per timeout.
	const timeout = time.Second
	underH02 := []string{"h07", "h08", "h09"}
	h01Cut := make(chan struct{})
	// 40 hosts, branches 3: h01 has h04..h06, h02 has h07..h09, h04 has
	// h13..h15, h05 has h16..h18, h07 has h22..h24, h13 has h40.
	tests := []struct {
		name        string
		fail        map[string]Block
		unreachable map[string]bool
		dieAfter    map[string]int
		frozen      map[string]bool
		after       map[string][]string // see fakeTasks.after
		until       map[string]chan struct{}
		cut         map[string]func(Event) bool
		failed      map[string]string // host → outcome; every other host ok
		via         map[string]string // re-attached host → its new source
		forks       []string          // forks that must have happened
	}{
		{
			name: "locally fails", fail: map[string]Block{"h02": BlockLocally},
			failed: map[string]string{"h02": "failed: locally failed on h02; second line"},
			via:    map[string]string{"h07": RootHost, "h08": RootHost, "h09": RootHost},
			forks:  []string{"localhost->h07", "localhost->h08"},
		},
		{
			name: "remote fails on a node", fail: map[string]Block{"h05": BlockRemote},
			failed: map[string]string{"h05": "failed: remote failed on h05; second line"},
			via:    map[string]string{"h16": "h01", "h17": "h01", "h18": "h01"},
		},
		{
			name: "unreachable node", unreachable: map[string]bool{"h02": true},
			failed: map[string]string{"h02": "failed: grifork on h02: dial h02: connection refused"},
			via:    map[string]string{"h07": RootHost, "h08": RootHost, "h09": RootHost},
		},
		{
			name: "grifork dies", dieAfter: map[string]int{"h02": 0},
			failed: map[string]string{"h02": "failed: grifork on h02: Process exited with status 255"},
			via:    map[string]string{"h07": RootHost, "h08": RootHost, "h09": RootHost},
		},
		{
			// h07..h09's copies end only once all three have started, which
			// is after the cut (the started event comes before the task): with
			// 50 ms each, a loaded machine ended h07's before h09's started,
			// and h07 kept h02 as its source.
			name: "grifork dies mid-copy", after: map[string][]string{"h07": underH02, "h08": underH02, "h09": underH02},
			cut:    map[string]func(Event) bool{"h02": startedAll(underH02...)},
			failed: map[string]string{"h02": "failed: grifork on h02: Process exited with status 255"},
			via:    map[string]string{"h07": RootHost, "h08": RootHost, "h09": RootHost},
		},
		{
			name: "grifork freezes", frozen: map[string]bool{"h02": true},
			failed: map[string]string{"h02": "failed: no heartbeat from grifork on h02 for 1s"},
			via:    map[string]string{"h07": RootHost, "h08": RootHost, "h09": RootHost},
		},
		{
			// h01 dies once h04..h06 have their copies: h13's subtree is still
			// being served, so h04 gets its grifork again, from the root.
			// h13's copy ends with the cut, as a remote command does when its
			// connection dies (a copy of one timeout, which kept h01's grifork
			// running, raced h01's silence of one timeout).
			name: "grifork dies after its children's copies", until: map[string]chan struct{}{"h13": h01Cut},
			cut:    map[string]func(Event) bool{"h01": closing(h01Cut, resultsAll("h04", "h05", "h06"))},
			failed: map[string]string{"h01": "failed: grifork on h01: Process exited with status 255"},
			forks:  []string{"localhost->h04"},
		},
		{
			// Re-attached h07 fails too: the root adopts its children as well.
			name: "adopted child fails", fail: map[string]Block{"h02": BlockLocally, "h07": BlockLocally},
			failed: map[string]string{"h02": "failed: locally failed on h02; second line", "h07": "failed: locally failed on h07; second line"},
			via:    map[string]string{"h07": RootHost, "h08": RootHost, "h09": RootHost, "h22": RootHost, "h23": RootHost, "h24": RootHost},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := fleetTree(t, 40, 3)
			root := &fakeTasks{fail: tc.fail, after: tc.after, until: tc.until, printer: output.NewPrinter(io.Discard, nil), log: &callLog{}}
			ff := &fakeForker{base: root, forks: &callLog{}, heal: true, unreachable: tc.unreachable, dieAfter: tc.dieAfter,
				frozen: tc.frozen, heartbeats: tc.frozen != nil, timeout: timeout, cut: tc.cut}
			done := make(chan *Report, 1)
			go func() {
				done <- RunGrifork(context.Background(), tr, root, ff, GriforkOptions{Heal: true, HeartbeatTimeout: timeout})
			}()
			var rep *Report
			select {
			case rep = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the run hung")
			}
			var summary bytes.Buffer
			if err := rep.WriteSummary(&summary); err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.Results() {
				want := tc.failed[r.Host]
				if want == "" {
					want = "ok"
				}
				if got := outcome(r); got != want {
					t.Errorf("%s: %s, want %s", r.Host, got, want)
				}
				via, reattached := tc.via[r.Host]
				if !reattached {
					via = r.NodeID // a stand-in for the parent's name, found below
					if n := findNode(tr, r.Host); n != nil {
						via = n.Parent.Name()
					}
				}
				if r.Via != via {
					t.Errorf("%s: via %q, want %q", r.Host, r.Via, via)
				}
				line := "  " + r.Host + " to " + via + " (parent " + findNode(tr, r.Host).Parent.Name() + " failed)\n"
				if strings.Contains(summary.String(), line) != reattached {
					t.Errorf("summary has %q: %v, want %v:\n%s", line, !reattached, reattached, summary.String())
				}
			}
			forks := ff.forks.sorted()
			for _, f := range tc.forks {
				if !slices.Contains(forks, f) {
					t.Errorf("no fork %s in %q", f, forks)
				}
			}
		})
	}
}

// A grifork that ends well but leaves hosts without a result: those whose task
// it had started are failed, the others skipped.
func TestGriforkLostResults(t *testing.T) {
	t.Parallel()
	tr := fleetTree(t, 12, 3) // h02 has h07, h08, h09
	h07 := findNode(tr, "h07")
	script := []Event{{Type: EventStarted, NodeID: h07.ID, Host: "h07", Task: BlockRemote, Start: time.Now()}}
	tasks := &fakeTasks{printer: output.NewPrinter(io.Discard, nil), log: &callLog{}}
	rep := RunGrifork(context.Background(), tr, tasks, &scriptForker{host: "h02", events: script}, GriforkOptions{})
	why := "no result reported by grifork on h02"
	want := map[string]string{"h07": "failed: " + why, "h08": "skipped: " + why, "h09": "skipped: " + why}
	for _, r := range rep.Results() {
		w := want[r.Host]
		if w == "" {
			w = "ok"
		}
		if got := outcome(r); got != w {
			t.Errorf("%s: %s, want %s", r.Host, got, w)
		}
	}
	if r, _ := rep.Get(h07.ID); r.Task != BlockRemote {
		t.Errorf("h07: task %q, want the one that started", r.Task)
	}
}
