package dsl

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/core/output"
)

// Bind is the one way a loaded script gets its executor and the logger of its
// task runs: before it, helpers fail; after it, commands go to its executor and
// task logs to its logger, while the load's warnings stayed with the load's.
func TestBind(t *testing.T) {
	t.Parallel()
	var loadLog, runLog bytes.Buffer
	s, err := Load(context.Background(), Source{Name: "Griforkfile.lua", Content: []byte(`
parallel "in_threads"
hosts { "web1" }
locally(function(src, dst) sh("echo", { dst }) end)
`)}, nil, Options{Printer: output.NewPrinter(&bytes.Buffer{}, nil), Logger: slog.New(slog.NewTextHandler(&loadLog, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	tree, err := core.BuildTree(s.Config.Hosts, s.Config.Branches)
	if err != nil {
		t.Fatal(err)
	}
	e := core.Edge{Block: core.BlockLocally, Src: tree.Root, Dst: tree.Root.Children[0]}
	run := func() error { return s.Run(core.WithEdge(context.Background(), e), e) }

	if err := run(); err == nil || !strings.Contains(err.Error(), "no executor") {
		t.Errorf("Run before Bind: %v, want no executor", err)
	}
	ex := &fakeExec{}
	s.Bind(ex, slog.New(slog.NewTextHandler(&runLog, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err := run(); err != nil {
		t.Fatal(err)
	}
	if got := ex.Calls(); len(got) != 1 || got[0] != `[locally] local "echo" "web1"` {
		t.Errorf("calls after Bind: %q", got)
	}
	if !strings.Contains(loadLog.String(), "parallel is accepted") || strings.Contains(loadLog.String(), "task start") {
		t.Errorf("load log:\n%s", loadLog.String())
	}
	if !strings.Contains(runLog.String(), `msg="task start" block=locally`) {
		t.Errorf("run log:\n%s", runLog.String())
	}
}
