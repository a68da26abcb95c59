package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/grifork/grifork/internal/testkit/golden"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// sampleReport is a 13-host branches-3 run where web2 failed (its 3 children
// skipped), web13 was cancelled and finish failed.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	tr := mustTree(t, 13, 3)
	r := NewReport(Standalone, tr)
	r.Start, r.Duration = t0, 3253*time.Millisecond
	for _, n := range tr.Nodes()[1:] {
		task := BlockRemote
		if n.Level == 1 {
			task = BlockLocally
		}
		res := Result{NodeID: n.ID, Host: n.Name(), Level: n.Level, Status: StatusOK, Task: task,
			Start: t0.Add(time.Duration(n.Level) * time.Second), Duration: time.Second}
		switch {
		case n.Name() == "web2":
			res.Status, res.Err = StatusFailed, OneLine("rsync: exit status 23\n  stack traceback:\n")
			res.ExitStatus = 23
		case n.Parent.Name() == "web2":
			res.Status, res.Err, res.Start, res.Duration = StatusSkipped, "parent web2 failed", time.Time{}, 0
		case n.Name() == "web13":
			res.Status, res.Err, res.Start, res.Duration = StatusSkipped, "cancelled", time.Time{}, 0
		}
		r.Set(res)
	}
	r.AddRunError(BlockFinish, RootHost, errors.New("boom\nat line 3"))
	return r
}

func TestWriteSummary(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	r := sampleReport(t)
	if err := r.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/summary/mixed.txt", b.String())
	if r.OK() {
		t.Error("OK() with failures")
	}

	ok := NewReport(Standalone, mustTree(t, 2, 3))
	ok.Duration = 90500 * time.Millisecond
	for _, res := range ok.Results() {
		res.Status = StatusOK
		ok.Set(res)
	}
	if !ok.OK() {
		t.Error("OK() false with every host ok")
	}
	b.Reset()
	if err := ok.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/summary/ok.txt", b.String())

	ok.AddRunError(BlockPrepare, RootHost, errors.New("x"))
	if ok.OK() {
		t.Error("OK() true despite a run error")
	}
	if got, want := ok.Headline(), "standalone run: 2 hosts: 2 ok, 0 failed, 0 skipped, 1 task error in 1m31s"; got != want {
		t.Errorf("Headline() = %q, want %q", got, want)
	}
}

// TestReportJSON pins the schema that --report writes (documented in docs/cli.md).
func TestReportJSON(t *testing.T) {
	t.Parallel()
	b, err := json.MarshalIndent(sampleReport(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/report/sample.json", string(b)+"\n")
}

func TestRetry(t *testing.T) {
	t.Parallel()
	hosts, err := sampleReport(t).Retry()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hosts {
		got = append(got, h.String())
	}
	if want := []string{"web2", "web7", "web8", "web9", "web13"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Retry() = %v, want %v", got, want)
	}
}

type exitCoder int

func (e exitCoder) Error() string { return "exit" }
func (e exitCoder) ExitCode() int { return int(e) }

func TestExitStatus(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want int
	}{
		{errors.New("x"), 0},
		{fmt.Errorf("ssh: %w", exitCoder(3)), 3},
		{exitCoder(-1), 0},
	} {
		if got := ExitStatus(tt.err); got != tt.want {
			t.Errorf("ExitStatus(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestSummaryAtScale: a failure near the root of 30,000 hosts is one summary line
// for the hosts it skipped, with their folded set.
func TestSummaryAtScale(t *testing.T) {
	t.Parallel()
	hosts := make([]Host, 30000)
	for i := range hosts {
		hosts[i] = Host{Name: fmt.Sprintf("h%d.example", i+1)}
	}
	tr, err := BuildTree(hosts, 4)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReport(Standalone, tr)
	var failed *Node
	for _, n := range tr.Nodes()[1:] {
		r.Set(Result{NodeID: n.ID, Host: n.Name(), Level: n.Level, Status: StatusOK})
		if n.Name() == "h5.example" {
			failed = n
		}
	}
	r.Set(Result{NodeID: failed.ID, Host: failed.Name(), Level: failed.Level, Status: StatusFailed, Err: "boom"})
	walkBelow(failed, func(n *Node) {
		r.Set(Result{NodeID: n.ID, Host: n.Name(), Level: n.Level, Status: StatusSkipped, Err: "parent h5.example failed"})
	})
	var b bytes.Buffer
	if err := r.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := "skipped 5,460 hosts under h5.example (parent failed): h[21-24,85-100,341-404,1365-1620,5461-6484,21845-25940].example"
	if len(lines) != 4 || lines[3] != want {
		t.Errorf("summary:\n%s\nwant its last line %q", b.String(), want)
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	t.Parallel()
	r := sampleReport(t)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Mode != r.Mode || !got.Start.Equal(r.Start) || got.Duration != r.Duration {
		t.Errorf("header: got %v %v %v", got.Mode, got.Start, got.Duration)
	}
	want := r.Results()
	gotRes := got.Results()
	if len(gotRes) != len(want) {
		t.Fatalf("%d results, want %d", len(gotRes), len(want))
	}
	for i := range want {
		if !gotRes[i].Start.Equal(want[i].Start) {
			t.Errorf("result %d start %v, want %v", i, gotRes[i].Start, want[i].Start)
		}
		gotRes[i].Start, want[i].Start = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(gotRes, want) {
		t.Errorf("results differ:\n%+v\n%+v", gotRes, want)
	}
	if !reflect.DeepEqual(got.RunErrors(), r.RunErrors()) {
		t.Errorf("run errors %v, want %v", got.RunErrors(), r.RunErrors())
	}
	if res, ok := got.Get("0.0-1.1"); !ok || res.Status != StatusFailed {
		t.Errorf("Get after decode: %+v %v", res, ok)
	}
	for _, bad := range []string{`[`, `{"results":[{"node_id":"a"},{"node_id":"a"}]}`, `{"results":[{}]}`} {
		if err := json.Unmarshal([]byte(bad), new(Report)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                           "",
		"plain":                      "plain",
		"a\n\n  b  \r\nc\n":          "a; b; c",
		"  lua: x.lua:3: bad\n\tat ": "lua: x.lua:3: bad; at",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// reasonErr is a task error that says where it happened apart from why.
type reasonErr struct{ where, why string }

func (e reasonErr) Error() string  { return e.where + ": " + e.why }
func (e reasonErr) Reason() string { return e.why }

// The report names the task and host itself: a task error shows only its reason
// there, or the summary would say "locally: locally localhost -> web1: ...".
func TestReportShowsTheReason(t *testing.T) {
	t.Parallel()
	tr, err := BuildTree([]Host{{Name: "web1"}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	tasks := &reasonTasks{err: reasonErr{where: "locally localhost -> web1", why: "Griforkfile.lua:3: disk full"}}
	r := RunStandalone(context.Background(), tr, tasks, RunOptions{Barrier: true})
	res, _ := r.Get("0.0-1.0")
	if res.Status != StatusFailed || res.Err != "Griforkfile.lua:3: disk full" {
		t.Errorf("result = %+v, want failed with only the reason", res)
	}
	if got := Reason(fmt.Errorf("wrapped: %w", tasks.err)); got != "Griforkfile.lua:3: disk full" {
		t.Errorf("Reason through %%w = %q", got)
	}
	if got := Reason(errors.New("plain")); got != "plain" {
		t.Errorf("Reason of a plain error = %q", got)
	}
}

// TestResultExitStatus: both schedulers record the exit status of the command
// behind a failed task.
func TestResultExitStatus(t *testing.T) {
	t.Parallel()
	tr, err := BuildTree([]Host{{Name: "web1"}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	tasks := &reasonTasks{err: fmt.Errorf("exec:4: ssh: %w", exitCoder(3))}
	for _, r := range []*Report{
		RunStandalone(context.Background(), tr, tasks, RunOptions{Barrier: true}),
		RunGrifork(context.Background(), tr, tasks, nil, GriforkOptions{}),
	} {
		if res, _ := r.Get("0.0-1.0"); res.Status != StatusFailed || res.ExitStatus != 3 {
			t.Errorf("%s: result = %+v, want failed with exit status 3", r.Mode, res)
		}
	}
}

type reasonTasks struct{ err error }

func (f *reasonTasks) Defined(b Block) bool { return b == BlockLocally }
func (f *reasonTasks) Run(ctx context.Context, e Edge) error {
	if e.Block != BlockLocally {
		return nil
	}
	return f.err
}
func (f *reasonTasks) Finish(ctx context.Context, r *Report) error { return nil }

func TestReportFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.json")
	r := sampleReport(t)
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Results()) != 13 || got.Mode != Standalone {
		t.Errorf("read back %d results, mode %s", len(got.Results()), got.Mode)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the temporary file is left: %v", err)
	}
	if _, err := ReadReport(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("no error for a missing report")
	}
}

// A report finds every node of its tree, and of a subtree, by the path of its
// id, with two-digit positions (branches 12) among them; ids it does not hold,
// or that only look like a prefix of one, are not found; a node set from
// outside the tree is kept apart and found again.
func TestReportFindsByID(t *testing.T) {
	t.Parallel()
	tr := mustTree(t, 300, 12)
	sub, _ := tr.subtree(tr.Root.Children[10])
	for _, c := range []struct {
		name string
		tree *Tree
	}{{"tree", tr}, {"subtree", sub}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := NewReport(Grifork, c.tree)
			nodes := c.tree.Nodes()[1:]
			for i, n := range nodes {
				r.Set(Result{NodeID: n.ID, Host: n.Name(), Status: StatusOK, Duration: time.Duration(i)})
			}
			for i, n := range nodes {
				if got, ok := r.Get(n.ID); !ok || got.Host != n.Name() || got.Duration != time.Duration(i) {
					t.Fatalf("Get(%s) = %+v, %v; want %s's result", n.ID, got, ok, n.Name())
				}
			}
			if got := len(r.Results()); got != len(nodes) || r.byID != nil {
				t.Fatalf("%d results for %d nodes, %d found by the map, not by their path", got, len(nodes), len(r.byID))
			}
			root := c.tree.Root.ID
			for _, id := range []string{"", root, root + "-", root + "-1.99", root + "0-1.0", root + "-1.1-x", root + "-1.-1", "9.9-1.0", nodes[0].ID + "-9.9"} {
				if got, ok := r.Get(id); ok {
					t.Errorf("Get(%q) = %+v, want none", id, got)
				}
			}
			out := Result{NodeID: "elsewhere-1.0", Host: "stray", Status: StatusFailed}
			r.Set(out)
			if got, ok := r.Get(out.NodeID); !ok || got != out {
				t.Errorf("Get(%q) = %+v, %v; want %+v", out.NodeID, got, ok, out)
			}
			if got := len(r.Results()); got != len(nodes)+1 {
				t.Errorf("%d results after a stray one, want %d", got, len(nodes)+1)
			}
		})
	}
}
