package dsl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/core/output"
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
  print(report.by_host["deploy@web3:2222"].err, #report.errors, table.concat(report:failed_hosts(), ","),
    table.concat(report:hosts("ok"), ","), #report:hosts("pending"))
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
		"exit status 1\t0\tdeploy@web3:2222\tweb1,web2\t0\n"
	if got := h.out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// report.success is the exit code's verdict: a run error (a failed
// finish_remote, say) makes it false even when every host is ok, and
// report.errors lists it.
func TestFinishReportRunErrors(t *testing.T) {
	t.Parallel()
	h := load(t, `
hosts { "web1" }
finish(function(report)
  print(report.success, report.ok, report.total, #report.errors)
  for _, e in ipairs(report.errors) do print(e.task, e.host, e.err) end
end)
`, nil)
	r := core.NewReport(core.Grifork, h.tree)
	r.Set(core.Result{NodeID: "0.0-1.0", Host: "web1", Level: 1, Status: core.StatusOK, Task: core.BlockLocally})
	r.AddRunError(core.BlockFinishRemote, "web1", errors.New("disk full"))
	if r.OK() {
		t.Fatal("the report with a run error is OK")
	}
	if err := h.script.Finish(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	want := "false\t1\t1\t1\nfinish_remote\tweb1\tdisk full\n"
	if got := h.out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// Setting a field of the report or of one of its entries is an error naming
// the field; the tables that hold the entries are copies made for this call.
func TestFinishReportReadOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body, want string }{
		{"report field", `report.success = true`, "Griforkfile.lua:3: the report is read-only: cannot set success"},
		{"new report field", `report.extra = 1`, "Griforkfile.lua:3: the report is read-only: cannot set extra"},
		{"result field", `report.results[1].status = "ok"`, "Griforkfile.lua:3: the report is read-only: cannot set status"},
		{"by_host entry", `report.by_host["web1"].err = nil`, "Griforkfile.lua:3: the report is read-only: cannot set err"},
		{"run error", `report.errors[1].err = "fine"`, "Griforkfile.lua:3: the report is read-only: cannot set err"},
		{"hosts with a bad status", `report:hosts("done")`, `status must be "ok", "failed", "skipped" or "pending", got "done"`},
		{"results table", `table.remove(report.results, 1) report.results = nil`, "Griforkfile.lua:3: the report is read-only: cannot set results"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := load(t, "hosts { \"web1\" }\nfinish(function(report)\n"+tc.body+"\nend)\n", nil)
			r := core.NewReport(core.Standalone, h.tree)
			r.Set(core.Result{NodeID: "0.0-1.0", Host: "web1", Level: 1, Status: core.StatusFailed, Err: "boom"})
			r.AddRunError(core.BlockPrepare, "localhost", errors.New("no disk"))
			err := h.script.Finish(context.Background(), r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
			if got := r.Results()[0]; got.Status != core.StatusFailed || got.Err != "boom" {
				t.Errorf("Lua changed the report: %+v", got)
			}
		})
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
		Options{Printer: output.NewPrinter(out, nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.Bind(rec, nil)
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

// r.broadcast says per host what it received and wrote, and whether it was a
// full copy, an update or already current; a failed host has its error.
func TestFinishReportBroadcast(t *testing.T) {
	t.Parallel()
	h := load(t, `
hosts { "web1", "web2", "web3", "web4" }
finish(function(report)
  for _, r in ipairs(report.results) do
    local b = r.broadcast
    print(r.host, b.status, b.via, b.received, b.written, b.kind, b.duration, b.peak_rss, b.stream, b.err)
  end
end)
`, nil)
	r := core.NewReport(core.Standalone, h.tree)
	for i, b := range []core.BroadcastResult{
		{Status: core.StatusOK, Via: "localhost", Received: 70000, Written: 65536, Kind: "full", Duration: 2 * time.Second, PeakRSS: 20480, Stream: "direct"},
		{Status: core.StatusOK, Via: "web1", Received: 70000, Written: 4096, Kind: "update", Duration: time.Second, PeakRSS: 20000, Stream: "ssh"},
		{Status: core.StatusOK, Via: "web2", Received: 70000, Kind: "current", Duration: time.Second, PeakRSS: 19000, Stream: "direct"},
		{Status: core.StatusFailed, Via: "web3", Duration: time.Second, Err: "SHA-256 mismatch"},
	} {
		host := fmt.Sprintf("web%d", i+1)
		r.Set(core.Result{NodeID: fmt.Sprintf("0.0-1.%d", i), Host: host, Level: 1, Status: b.Status, Broadcast: &b})
	}
	if err := h.script.Finish(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	want := "web1\tok\tlocalhost\t70000\t65536\tfull\t2\t20480\tdirect\tnil\n" +
		"web2\tok\tweb1\t70000\t4096\tupdate\t1\t20000\tssh\tnil\n" +
		"web3\tok\tweb2\t70000\t0\tcurrent\t1\t19000\tdirect\tnil\n" +
		"web4\tfailed\tweb3\t0\t0\tnil\t1\t0\tnil\tSHA-256 mismatch\n"
	if got := h.out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}
