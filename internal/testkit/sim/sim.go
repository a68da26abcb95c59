package sim

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grifork/grifork/core"
)

// Model is what a command costs, in modelled time. The zero Model costs
// nothing: commands return at once.
type Model struct {
	// Latency is the cost of every command (a round trip, a process start).
	Latency time.Duration
	// Payload and Rate give the transfer time of an rsync: Payload bytes at Rate
	// bytes per second. Each host's link carries one transfer at a time, so a
	// parent's transfers to its children queue on its link.
	Payload int64
	Rate    float64
	// ForkLatency is the cost of starting grifork on a node (grifork mode).
	ForkLatency time.Duration
	// FailEvery makes the rsync to every FailEvery-th host (by Node.Index) fail;
	// 0 means none fails.
	FailEvery int
	// Scale maps modelled time to real time (0.01: a modelled second sleeps 10
	// ms); 0 means 1.
	Scale float64
}

// Transfer is the modelled time an rsync holds its source's link.
func (m Model) Transfer() time.Duration {
	d := m.Latency
	if m.Rate > 0 {
		d += time.Duration(float64(m.Payload) / m.Rate * float64(time.Second))
	}
	return d
}

// sleep waits d of modelled time, or until ctx ends.
func (m Model) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	scale := m.Scale
	if scale == 0 {
		scale = 1
	}
	t := time.NewTimer(time.Duration(float64(d) * scale))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// ErrFailed is the error of an rsync that the model makes fail.
var ErrFailed = errors.New("sim: modelled failure")

// Exec is core.Exec over a Model. The host that runs a command is the edge's
// source for Local (rsync from this machine) and the target host for Remote
// (rsync_remote logs into src); an rsync holds that host's link for
// Model.Transfer, any other command costs Model.Latency. Safe for concurrent
// use.
type Exec struct {
	m     Model
	links map[string]*sync.Mutex // by host name; read-only after NewExec
}

// NewExec returns an Exec for the hosts of t.
func NewExec(m Model, t *core.Tree) *Exec {
	e := &Exec{m: m, links: map[string]*sync.Mutex{}}
	t.Walk(func(n *core.Node) { e.links[n.Name()] = &sync.Mutex{} })
	return e
}

// Local runs argv on the edge's source.
func (e *Exec) Local(ctx context.Context, argv []string) (string, error) {
	var from string
	if ed, ok := core.EdgeFrom(ctx); ok && ed.Src != nil {
		from = ed.Src.Name()
	}
	return "", e.run(ctx, from, len(argv) > 0 && argv[0] == "rsync")
}

// Remote runs cmdline on host.
func (e *Exec) Remote(ctx context.Context, host core.Host, cmdline string) (string, error) {
	return "", e.run(ctx, host.String(), strings.HasPrefix(cmdline, "rsync "))
}

// Rsh is what rsync would be given; nothing runs it.
func (e *Exec) Rsh(core.Host) string { return "ssh" }

func (e *Exec) run(ctx context.Context, from string, rsync bool) error {
	if !rsync {
		return e.m.sleep(ctx, e.m.Latency)
	}
	if ed, ok := core.EdgeFrom(ctx); ok && ed.Dst != nil && e.m.FailEvery > 0 && ed.Dst.Index%e.m.FailEvery == 0 {
		return ErrFailed
	}
	if l := e.links[from]; l != nil && e.m.Transfer() > 0 {
		l.Lock()
		defer l.Unlock()
	}
	return e.m.sleep(ctx, e.m.Transfer())
}

// Forker is core.Forker in this process: a fork costs Model.ForkLatency, then
// the child's part runs with Tasks (RunGrifork on its subtree, as --on-remote
// would) and its events come back as JSON lines through a bounded pipe, read by
// core.ReadEvents: every level of the tree decodes and relays the events of
// the levels below, as over SSH. All nodes share Tasks (one Lua VM, where a
// real fleet has one per node). Safe for concurrent use.
type Forker struct {
	Model Model
	Tasks core.Tasks
}

// Fork implements core.Forker.
func (f *Forker) Fork(ctx context.Context, parent, child *core.Node, sub *core.Tree, events func(core.Event)) error {
	if err := f.Model.sleep(ctx, f.Model.ForkLatency); err != nil {
		return err
	}
	p := newPipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ew := core.NewEventWriter(p, nil)
		core.RunGrifork(ctx, sub, f.Tasks, f, core.GriforkOptions{Remote: true, Events: ew.Emit})
		p.CloseWrite()
	}()
	err := core.ReadEvents(p, child, events)
	p.CloseRead(errors.New("sim: parent stopped reading")) // a child still writing gives up
	<-done
	return err
}

// Bound is the model's makespan of t with no scheduling cost at all, the figure a
// measured makespan is compared with. Every edge is one rsync (Transfer on its
// source's link), generation 1 waiting first for first (the latency of
// commands that precede its rsyncs, such as an ssh mkdir); a parent sends to
// its children one at a time, deepest subtree first. With forks (grifork
// mode), a node with children starts its subtree ForkLatency after its own
// copy. With barrier (standalone only), a generation starts when the previous
// one has ended.
func Bound(t *core.Tree, m Model, first time.Duration, barrier, forks bool) time.Duration {
	c := m.Transfer()
	if barrier {
		total := time.Duration(0)
		for i, gen := range t.Generations() {
			perParent := map[*core.Node]int{}
			most := 0
			for _, n := range gen {
				perParent[n.Parent]++
				most = max(most, perParent[n.Parent])
			}
			total += time.Duration(most) * c
			if i == 0 {
				total += first
			}
		}
		return total
	}
	var below func(n *core.Node) time.Duration // n has its copy -> its subtree has
	below = func(n *core.Node) time.Duration {
		if len(n.Children) == 0 {
			return 0
		}
		bs := make([]time.Duration, len(n.Children))
		for i, ch := range n.Children {
			bs[i] = below(ch)
		}
		slices.SortFunc(bs, func(a, b time.Duration) int { return cmp.Compare(b, a) })
		var d time.Duration
		for i, b := range bs {
			d = max(d, time.Duration(i+1)*c+b)
		}
		if forks && !n.IsRoot() {
			d += m.ForkLatency
		}
		return d
	}
	d := below(t.Root)
	if len(t.Root.Children) > 0 {
		d += first
	}
	return d
}
