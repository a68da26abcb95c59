package sim

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/core/output"
	"github.com/grifork/grifork/dsl"
	"github.com/grifork/grifork/internal/testkit/exectest"
)

// The simulated transport passes the conformance suite of every core.Exec:
// its commands take their modelled time and stop with ctx.
func TestExecConformance(t *testing.T) {
	t.Parallel()
	exectest.RunExec(t, func(t *testing.T) exectest.Subject {
		host := core.Host{Name: "web1"}
		tree, err := core.BuildTree([]core.Host{host}, 2)
		if err != nil {
			t.Fatal(err)
		}
		// A modelled minute is 60 ms: long next to an ended ctx.
		ex := NewExec(Model{Latency: time.Minute, Scale: 0.001}, tree)
		return exectest.Subject{Exec: ex, Host: host, Label: "web1"}
	})
}

// The simulated Forker passes the conformance suite of every core.Forker:
// the child's part runs in this process, its events cross a pipe as JSON.
func TestForkerConformance(t *testing.T) {
	t.Parallel()
	exectest.RunForker(t, func(t *testing.T, griforkfile string) exectest.ForkSubject {
		tree, err := core.BuildTree([]core.Host{{Name: "web1"}}, 2)
		if err != nil {
			t.Fatal(err)
		}
		s, err := dsl.Load(context.Background(), dsl.Source{Name: "Griforkfile.lua", Content: []byte(griforkfile)}, nil,
			dsl.Options{Printer: output.NewPrinter(io.Discard, nil), SkipHosts: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		// sh() takes a modelled minute: long enough to be stopped.
		s.Bind(NewExec(Model{Latency: time.Minute}, tree), nil)
		child := tree.Root.Children[0]
		return exectest.ForkSubject{Forker: &Forker{Tasks: s}, Parent: tree.Root, Child: child, Sub: tree.Subtree(child)}
	})
}
