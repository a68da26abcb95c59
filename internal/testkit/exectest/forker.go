package exectest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

// ForkSubject is one implementation of core.Forker under test, set up to
// fork Child (whose parent is Parent) with its subtree Sub, where Child runs
// the Griforkfile it was set up with.
type ForkSubject struct {
	Forker        core.Forker
	Parent, Child *core.Node
	Sub           *core.Tree
}

// The Griforkfiles of the Forker behaviours: the child's prepare_remote
// succeeds, fails, or runs until it is stopped.
const (
	forkOK    = "mode \"grifork\"\nhosts { \"h\" }\nprepare_remote(function() end)\n"
	forkFails = "mode \"grifork\"\nhosts { \"h\" }\nprepare_remote(function() error(\"exectest-boom\") end)\n"
	forkSleep = "mode \"grifork\"\nhosts { \"h\" }\nprepare_remote(function() sh(\"sleep\", { \"60\" }) end)\n"
)

// RunForker runs every behaviour over the ForkSubject that newSubject sets
// up for a Griforkfile.
func RunForker(t *testing.T, newSubject func(t *testing.T, griforkfile string) ForkSubject) {
	for _, b := range []struct {
		name string
		test func(t *testing.T, newSubject func(t *testing.T, griforkfile string) ForkSubject)
	}{
		{"the child's run ends with its done event, delivered before Fork returns", forkDone},
		{"a failing block fails the child, with its reason", forkFailure},
		{"cancelling ctx stops the child", forkCancel},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			b.test(t, newSubject)
		})
	}
}

// fork forks s's child with ctx and returns the events it delivered; each
// must come from the child's subtree.
func fork(t *testing.T, ctx context.Context, s ForkSubject) ([]core.Event, error) {
	var mu sync.Mutex
	var evs []core.Event
	err := s.Forker.Fork(ctx, s.Parent, s.Child, s.Sub, func(e core.Event) {
		mu.Lock()
		defer mu.Unlock()
		evs = append(evs, e)
	})
	mu.Lock()
	defer mu.Unlock()
	for _, e := range evs {
		if e.NodeID != s.Child.ID && !strings.HasPrefix(e.NodeID, s.Child.ID+"-") {
			t.Errorf("event %+v is not of the child %s's subtree", e, s.Child.ID)
		}
	}
	return evs, err
}

// childDone is the child's done event, or false.
func childDone(evs []core.Event, child *core.Node) (core.Event, bool) {
	for _, e := range evs {
		if e.Type == core.EventDone && e.NodeID == child.ID {
			return e, true
		}
	}
	return core.Event{}, false
}

func forkDone(t *testing.T, newSubject func(t *testing.T, griforkfile string) ForkSubject) {
	s := newSubject(t, forkOK)
	evs, err := fork(t, context.Background(), s)
	if err != nil {
		t.Fatalf("Fork: %v", err)
	}
	if d, ok := childDone(evs, s.Child); !ok || d.Status != core.StatusOK {
		t.Errorf("events %+v; want the child's done event, ok", evs)
	}
}

func forkFailure(t *testing.T, newSubject func(t *testing.T, griforkfile string) ForkSubject) {
	s := newSubject(t, forkFails)
	evs, err := fork(t, context.Background(), s)
	if err != nil {
		t.Fatalf("Fork: %v (the fork itself worked)", err)
	}
	if d, ok := childDone(evs, s.Child); !ok || d.Status != core.StatusFailed || !strings.Contains(d.Err, "exectest-boom") {
		t.Errorf("events %+v; want the child's done event, failed with the block's error", evs)
	}
}

func forkCancel(t *testing.T, newSubject func(t *testing.T, griforkfile string) ForkSubject) {
	s := newSubject(t, forkSleep)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancelled once the child has said something (it runs), so that what
	// is timed is the stop, not the set-up.
	var once sync.Once
	cancelled := make(chan time.Time, 1)
	var evs []core.Event
	var mu sync.Mutex
	err := s.Forker.Fork(ctx, s.Parent, s.Child, s.Sub, func(e core.Event) {
		mu.Lock()
		evs = append(evs, e)
		mu.Unlock()
		once.Do(func() {
			time.AfterFunc(300*time.Millisecond, func() {
				cancelled <- time.Now()
				cancel()
			})
		})
	})
	var at time.Time
	select {
	case at = <-cancelled:
	default:
		t.Fatalf("Fork returned before it was cancelled: %v, events %+v", err, evs)
	}
	if took := time.Since(at); took > stopBound {
		t.Errorf("Fork returned %v after the cancel", took)
	}
	// Stopped, the child either could not say so (the error is ctx's) or
	// said it failed.
	mu.Lock()
	defer mu.Unlock()
	d, ok := childDone(evs, s.Child)
	if !errors.Is(err, context.Canceled) && !(ok && d.Status == core.StatusFailed) {
		t.Errorf("Fork: %v, events %+v; want ctx's error or the child failed", err, evs)
	}
	if ok && d.Status == core.StatusOK {
		t.Errorf("the stopped child reported success: %+v", d)
	}
}
