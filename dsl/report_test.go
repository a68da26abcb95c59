package dsl

import (
	"context"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

func TestFinishReport(t *testing.T) {
	t.Parallel()
	h := load(t, `
hosts { "web1", "web2", "deploy@web3:2222", "web4" }
finish(function(report)
  print(report.mode, report.ok, report.failed, report.skipped, report.total, report.success, report.duration > 0)
  for _, r in ipairs(report.results) do
    print(r.host, r.id, r.level, r.status, r.task, r.via, r.start ~= nil, r.duration, r.err)
  end
  print(report.by_host["deploy@web3:2222"].err)
  report.results[1].status = "changed"   -- a copy: harmless
end)
`, nil)
	r := core.NewReport(core.Standalone, h.tree)
	r.Start = time.Now().Add(-2 * time.Second)
	start := time.Unix(1700000000, 0)
	r.Set(core.Result{NodeID: "0.0-1.0", Host: "web1", Level: 1, Status: core.StatusOK, Task: core.BlockLocally, Via: "localhost", Start: start, Duration: 1500 * time.Millisecond})
	r.Set(core.Result{NodeID: "0.0-1.1", Host: "web2", Level: 1, Status: core.StatusOK, Task: core.BlockRemote, Via: "web1", Start: start, Duration: time.Second})
	r.Set(core.Result{NodeID: "0.0-1.2", Host: "deploy@web3:2222", Level: 1, Status: core.StatusFailed, Task: core.BlockLocally, Via: "localhost", Start: start, Duration: time.Second, Err: "exit status 1"})
	r.Set(core.Result{NodeID: "0.0-1.3", Host: "web4", Level: 1, Status: core.StatusSkipped, Err: "parent failed"})
	if err := h.script.Finish(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	want := "standalone\t2\t1\t1\t4\tfalse\ttrue\n" +
		"web1\t0.0-1.0\t1\tok\tlocally\tlocalhost\ttrue\t1.5\tnil\n" +
		"web2\t0.0-1.1\t1\tok\tremote\tweb1\ttrue\t1\tnil\n" +
		"deploy@web3:2222\t0.0-1.2\t1\tfailed\tlocally\tlocalhost\ttrue\t1\texit status 1\n" +
		"web4\t0.0-1.3\t1\tskipped\tnil\tnil\tfalse\t0\tparent failed\n" +
		"exit status 1\n"
	if got := h.out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if got := r.Results()[0].Status; got != core.StatusOK {
		t.Errorf("Lua changed the report: %s", got)
	}
}

// The commands of finish belong to the edge the scheduler runs it under (the
// root), as prepare's do: the dry-run plan lists them, and errors name the node.
// What it prints stays unprefixed.
func TestFinishKeepsItsNode(t *testing.T) {
	t.Parallel()
	rec := core.NewRecorder(nil, nil)
	src := `
hosts { "web1" }
finish(function(report) sh("echo", { "done" }) ; sh("false", {}) ; print("total", report.total) end)
`
	out := &syncBuffer{}
	s, err := Load(context.Background(), Source{Name: "Griforkfile.lua", Content: []byte(src)}, nil,
		Options{Exec: rec, Printer: core.NewPrinter(out, nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	tree, err := core.BuildTree(s.Config.Hosts, s.Config.Branches)
	if err != nil {
		t.Fatal(err)
	}
	e := core.Edge{Block: core.BlockFinish, Src: tree.Root}
	if err := s.Finish(core.WithEdge(context.Background(), e), core.NewReport(core.Standalone, tree)); err != nil {
		t.Fatal(err)
	}
	steps := rec.Steps(e)
	if len(steps) != 2 || steps[0].String() != "local: echo done" {
		t.Errorf("steps recorded under finish on the root: %v", steps)
	}
	if got := out.String(); got != "total\t1\n" {
		t.Errorf("finish printed %q, want plain lines", got)
	}
}
