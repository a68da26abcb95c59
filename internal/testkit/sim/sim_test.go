package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

func tree(t *testing.T, hosts, branches int) *core.Tree {
	t.Helper()
	hs := make([]core.Host, hosts)
	for i := range hs {
		hs[i] = core.Host{Name: fmt.Sprintf("h%d", i+1)}
	}
	tr, err := core.BuildTree(hs, branches)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// rsyncTasks is a Griforkfile in Go: every edge is one rsync, run on the
// edge's source as rsync (locally) or rsync_remote (remote) would.
type rsyncTasks struct{ ex core.Exec }

func (rsyncTasks) Defined(b core.Block) bool { return b == core.BlockLocally || b == core.BlockRemote }
func (r rsyncTasks) Run(ctx context.Context, e core.Edge) error {
	if e.Dst == nil {
		return nil
	}
	if e.Block == core.BlockLocally {
		_, err := r.ex.Local(ctx, []string{"rsync", "-a", "/srv/", e.Dst.Name() + ":/srv/"})
		return err
	}
	_, err := r.ex.Remote(ctx, e.Src.Host, "rsync -a /srv/ "+e.Dst.Name()+":/srv/")
	return err
}
func (rsyncTasks) Finish(context.Context, *core.Report) error { return nil }

// The model's bound, by hand: 5 hosts, branches 2, 10 ms per rsync (root ->
// h1, h2; h1 -> h3, h4; h2 -> h5).
func TestBound(t *testing.T) {
	t.Parallel()
	m := Model{Latency: 10 * time.Millisecond, ForkLatency: 100 * time.Millisecond}
	tr := tree(t, 5, 2)
	tests := []struct {
		name           string
		first          time.Duration
		barrier, forks bool
		want           time.Duration
	}{
		// h1 first (the deeper subtree): h1 at 10, h3 at 20, h4 at 30; h2 at 20, h5 at 30.
		{"no barrier", 0, false, false, 30 * time.Millisecond},
		// generation 1: 2 rsyncs on the root's link; generation 2: h1's two.
		{"barrier", 0, true, false, 40 * time.Millisecond},
		{"barrier, first", 5 * time.Millisecond, true, false, 45 * time.Millisecond},
		// h1 forks at 10 + 100, its children at 120 and 130.
		{"forks", 0, false, true, 130 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := Bound(tr, m, tc.first, tc.barrier, tc.forks); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Both schedulers run on the sim, and the makespan respects the model: never
// below the bound. (How near it lands is for BenchmarkScale to say: on a
// loaded machine a run of a few real milliseconds can take 30 times as long.)
func TestRunsFollowTheModel(t *testing.T) {
	t.Parallel()
	m := Model{Latency: 20 * time.Millisecond, ForkLatency: 20 * time.Millisecond, Scale: 0.1}
	tr := tree(t, 40, 2)
	for _, mode := range []string{"barrier", "no barrier", "grifork"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ex := NewExec(m, tr)
			tasks := rsyncTasks{ex: ex}
			start := time.Now()
			var r *core.Report
			switch mode {
			case "grifork":
				r = core.RunGrifork(context.Background(), tr, tasks, &Forker{Model: m, Tasks: tasks}, core.GriforkOptions{})
			default:
				r = core.RunStandalone(context.Background(), tr, tasks, core.RunOptions{Barrier: mode == "barrier"})
			}
			took := time.Duration(float64(time.Since(start)) / m.Scale)
			if !r.OK() {
				t.Fatal(r.Headline())
			}
			bound := Bound(tr, m, 0, mode == "barrier", mode == "grifork")
			if took < bound {
				t.Errorf("modelled makespan %v, want at least the bound %v", took, bound)
			}
		})
	}
}

// A share of failing hosts fails exactly those, in both modes, and grifork
// mode's relay brings every outcome up to the root.
func TestFailEvery(t *testing.T) {
	t.Parallel()
	m := Model{FailEvery: 7}
	tr := tree(t, 30, 3)
	for _, grifork := range []bool{false, true} {
		ex := NewExec(m, tr)
		tasks := rsyncTasks{ex: ex}
		var r *core.Report
		if grifork {
			r = core.RunGrifork(context.Background(), tr, tasks, &Forker{Model: m, Tasks: tasks}, core.GriforkOptions{})
		} else {
			r = core.RunStandalone(context.Background(), tr, tasks, core.RunOptions{Barrier: true})
		}
		failed := map[int]bool{}
		for _, res := range r.Results() {
			if res.Status == core.StatusFailed {
				var n int
				fmt.Sscanf(res.Host, "h%d", &n)
				failed[n] = true
			}
			if res.Status == core.StatusPending {
				t.Errorf("grifork %v: %s pending", grifork, res.Host)
			}
		}
		want := map[int]bool{7: true, 14: true, 21: true, 28: true}
		if fmt.Sprint(failed) != fmt.Sprint(want) {
			t.Errorf("grifork %v: failed %v, want %v", grifork, failed, want)
		}
	}
}

// A cancelled run ends the modelled commands at once.
func TestCancel(t *testing.T) {
	t.Parallel()
	tr := tree(t, 3, 3)
	ex := NewExec(Model{Latency: time.Hour}, tr)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ex.Remote(ctx, core.Host{Name: "h1"}, "true")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

// countingTasks counts the edge tasks that started.
type countingTasks struct{ started *atomic.Int64 }

func (countingTasks) Defined(b core.Block) bool {
	return b == core.BlockLocally || b == core.BlockRemote
}
func (c countingTasks) Run(_ context.Context, e core.Edge) error {
	if e.Dst != nil {
		c.started.Add(1)
	}
	return nil
}
func (countingTasks) Finish(context.Context, *core.Report) error { return nil }

// takingForker counts the events a node takes from its children's streams.
type takingForker struct {
	f     core.Forker
	taken *atomic.Int64
}

func (t takingForker) Fork(ctx context.Context, parent, child *core.Node, sub *core.Tree, events func(core.Event)) error {
	return t.f.Fork(ctx, parent, child, sub, func(ev core.Event) {
		t.taken.Add(1)
		events(ev)
	})
}

// Backpressure end to end: while a node's own stream is not read (a parent
// that is slow, a stalled link), the node takes no more events from its
// children than it can hand on, one per child at most, whatever the size of
// its subtree: the children's bounded pipes fill and their writers wait,
// level after level. Once the stream is read again, every event of every host
// comes up.
//
// Not parallel: the timed tests of this package would share the CPUs with it.
func TestRelayBackpressure(t *testing.T) {
	const hosts, branches, stallAt = 1000, 4, 40
	tr := tree(t, hosts, branches)
	var started, taken atomic.Int64
	tasks := countingTasks{started: &started}
	release := make(chan struct{})
	var mu sync.Mutex
	read := 0
	events := func(ev core.Event) {
		if ev.Type == core.EventHeartbeat {
			return // the node's own, every 5 s
		}
		mu.Lock()
		defer mu.Unlock()
		if read++; read == stallAt {
			<-release
		}
	}
	done := make(chan *core.Report)
	go func() {
		f := takingForker{f: &Forker{Tasks: tasks}, taken: &taken}
		done <- core.RunGrifork(context.Background(), tr, tasks, f, core.GriforkOptions{Remote: true, Events: events})
	}()
	// Stalled: wait until nothing moves for a while.
	last := [2]int64{-1, -1}
	for n := [2]int64{started.Load(), taken.Load()}; n != last; n = [2]int64{started.Load(), taken.Load()} {
		last = n
		time.Sleep(300 * time.Millisecond)
	}
	if last[1] > stallAt+branches {
		t.Errorf("the stalled node took %d events from its children (%d tasks ran below), want at most %d: %d read and one in hand per child",
			last[1], last[0], stallAt+branches, stallAt)
	}
	close(release)
	r := <-done
	if !r.OK() || r.Count(core.StatusOK) != hosts {
		t.Fatalf("after the stall: %s", r.Headline())
	}
	// Every host's started and result event, and each fork's done event.
	forks := 0
	tr.Walk(func(n *core.Node) {
		if !n.IsRoot() && len(n.Children) > 0 {
			forks++
		}
	})
	if want := 2*hosts + forks + 1; read != want {
		t.Errorf("%d events came up, want %d", read, want)
	}
}
