package dsl

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/core/output"
)

// fakeExec records the commands helpers run; local and remote, when set, decide
// their outcome.
type fakeExec struct {
	mu     sync.Mutex
	calls  []string
	steps  []core.Step // the same commands, as the dry-run Recorder has them
	local  func(ctx context.Context, argv []string) (string, error)
	remote func(ctx context.Context, host core.Host, cmdline string) (string, error)
}

func (f *fakeExec) record(ctx context.Context, s string, step core.Step) {
	e, _ := core.EdgeFrom(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("[%s] %s", e.Block, s))
	f.steps = append(f.steps, step)
}

func (f *fakeExec) Local(ctx context.Context, argv []string) (string, error) {
	f.record(ctx, "local "+strings.Join(quoteEach(argv), " "), core.Step{Kind: core.StepLocal, Argv: slices.Clone(argv)})
	if f.local != nil {
		return f.local(ctx, argv)
	}
	return "out:" + strings.Join(argv, " "), nil
}

func (f *fakeExec) Remote(ctx context.Context, host core.Host, cmdline string) (string, error) {
	f.record(ctx, "remote "+host.String()+" "+cmdline, core.Step{Kind: core.StepRemote, Host: host, Cmdline: cmdline})
	if f.remote != nil {
		return f.remote(ctx, host, cmdline)
	}
	return "out:" + cmdline, nil
}

func (f *fakeExec) Rsh(host core.Host) string {
	if host.Port != 0 {
		return fmt.Sprintf("ssh -p %d", host.Port)
	}
	return "ssh"
}

func (f *fakeExec) Steps() []core.Step {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.steps)
}

func (f *fakeExec) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func quoteEach(argv []string) []string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = fmt.Sprintf("%q", a)
	}
	return q
}

// syncBuffer is a bytes.Buffer safe for the printer and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness loads src with a fake Exec and a captured printer.
type harness struct {
	t      *testing.T
	script *Script
	exec   *fakeExec
	out    *syncBuffer
	tree   *core.Tree
}

func load(t *testing.T, src string, ex *fakeExec, opts ...func(*Options)) *harness {
	t.Helper()
	h, err := tryLoad(t, src, nil, ex, opts...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return h
}

func tryLoad(t *testing.T, src string, override *Source, ex *fakeExec, opts ...func(*Options)) (*harness, error) {
	t.Helper()
	if ex == nil {
		ex = &fakeExec{}
	}
	out := &syncBuffer{}
	o := Options{Printer: output.NewPrinter(out, nil)}
	for _, f := range opts {
		f(&o)
	}
	s, err := Load(context.Background(), Source{Name: "Griforkfile.lua", Content: []byte(src)}, override, o)
	if err != nil {
		return nil, err
	}
	t.Cleanup(s.Close)
	s.Bind(ex, nil)
	tree, err := core.BuildTree(s.Config.Hosts, s.Config.Branches)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, script: s, exec: ex, out: out, tree: tree}, nil
}

// node returns the tree node named name.
func (h *harness) node(name string) *core.Node {
	h.t.Helper()
	var found *core.Node
	h.tree.Walk(func(n *core.Node) {
		if n.Name() == name {
			found = n
		}
	})
	if found == nil {
		h.t.Fatalf("no node %q", name)
	}
	return found
}

// run runs block on the edge src -> dst (dst "" for single-node blocks).
func (h *harness) run(block core.Block, src, dst string) error {
	h.t.Helper()
	e := core.Edge{Block: block, Src: h.node(src)}
	if dst != "" {
		e.Dst = h.node(dst)
	}
	return h.script.Run(core.WithEdge(context.Background(), e), e)
}
