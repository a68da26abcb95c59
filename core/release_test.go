package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// connTracker plays the SSH transport's connections for RunOptions.Release:
// an edge uses its source's connection (rsync_remote) and its destination's
// (ssh(dst)); a connection is open from its first use to its release.
type connTracker struct {
	mu       sync.Mutex
	inUse    map[string]int // running edges using the host
	open     map[string]bool
	peak     int
	released map[string]time.Time // last release
	reopened int                  // uses after a release
	bad      []string
}

func newConnTracker() *connTracker {
	return &connTracker{inUse: map[string]int{}, open: map[string]bool{}, released: map[string]time.Time{}}
}

func (c *connTracker) hosts(e Edge) []string {
	var hs []string
	if e.Src != nil && !e.Src.IsRoot() {
		hs = append(hs, e.Src.Name())
	}
	if e.Dst != nil {
		hs = append(hs, e.Dst.Name())
	}
	return hs
}

func (c *connTracker) use(e Edge) (done func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	hs := c.hosts(e)
	for _, h := range hs {
		if _, ok := c.released[h]; ok && !c.open[h] {
			c.reopened++
		}
		c.inUse[h]++
		c.open[h] = true
	}
	c.peak = max(c.peak, len(c.open))
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, h := range hs {
			c.inUse[h]--
		}
	}
}

func (c *connTracker) release(h Host) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inUse[h.Name] > 0 {
		c.bad = append(c.bad, fmt.Sprintf("%s released while %d edges use it", h.Name, c.inUse[h.Name]))
	}
	delete(c.open, h.Name)
	c.released[h.Name] = time.Now()
}

// trackedTasks runs schedFake's tasks with their hosts' connections in use.
type trackedTasks struct {
	*schedFake
	tr *connTracker
}

func (t trackedTasks) Run(ctx context.Context, e Edge) error {
	done := t.tr.use(e)
	defer done()
	return t.schedFake.Run(ctx, e)
}

// A standalone run releases every host once its own edge and its children's
// have ended, never while an edge uses it: with the barrier, the hosts of
// generation g are released before generation g+2 starts, and the run never
// holds all its hosts at once.
func TestStandaloneReleasesHosts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		hosts    int
		branches int
		barrier  bool
		heal     bool
		fail     map[string]error
		reopened bool // an adopter released earlier is used again
	}{
		{name: "barrier", hosts: 40, branches: 3, barrier: true},
		{name: "no barrier", hosts: 40, branches: 3},
		{name: "failure skips the subtree", hosts: 40, branches: 3, barrier: true, fail: map[string]error{"web2": errors.New("down")}},
		{name: "heal re-attaches", hosts: 40, branches: 3, barrier: true, heal: true, fail: map[string]error{"web2": errors.New("down"), "web5": errors.New("down")}},
		// web7's parent web3 fails; its adopter is web4, a leaf released when its own copy was done.
		{name: "heal adopts by a released host", hosts: 7, branches: 2, barrier: true, heal: true, fail: map[string]error{"web3": errors.New("down")}, reopened: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &schedFake{fail: tc.fail, delay: map[string]time.Duration{"web1": 5 * time.Millisecond, "web6": 3 * time.Millisecond}}
			tr := newConnTracker()
			tree := mustTree(t, tc.hosts, tc.branches)
			RunStandalone(context.Background(), tree, trackedTasks{f, tr}, RunOptions{Barrier: tc.barrier, Heal: tc.heal, Release: tr.release})
			calls := f.check(t)
			tr.mu.Lock()
			defer tr.mu.Unlock()
			for _, b := range tr.bad {
				t.Error(b)
			}
			if len(tr.open) > 0 {
				t.Errorf("open at the end: %v", tr.open)
			}
			tree.Walk(func(n *Node) {
				if _, ok := tr.released[n.Name()]; !n.IsRoot() && !ok {
					t.Errorf("%s never released", n.Name())
				}
			})
			if tr.peak >= tc.hosts {
				t.Errorf("peak of %d open connections: the run held every host", tr.peak)
			}
			if tr.reopened > 0 && !tc.heal || tc.reopened && tr.reopened == 0 {
				t.Errorf("%d hosts used after their release", tr.reopened)
			}
			if !tc.barrier || tc.heal {
				return
			}
			for _, c := range calls {
				if c.dst == "" {
					continue
				}
				level := find(tree, nodeIDOf(tree, c.dst)).Level
				tree.Walk(func(m *Node) {
					if m.IsRoot() || m.Level > level-2 {
						return
					}
					if r, ok := tr.released[m.Name()]; !ok || r.After(c.start) {
						t.Errorf("%v started before %s (generation %d) was released", c, m.Name(), m.Level)
					}
				})
			}
		})
	}
}

// Without a Release hook nothing is counted: the scheduler of the simulated
// 100,000-host runs pays nothing for it.
func TestStandaloneNoReleaseHook(t *testing.T) {
	t.Parallel()
	s := &standalone{}
	s.need(&Node{Parent: &Node{}}, -1)
	if s.needed != nil {
		t.Error("counted without a hook")
	}
}
