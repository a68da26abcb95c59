package core

import (
	"context"
	"io"
	"testing"

	"github.com/grifork/grifork/core/output"
)

func TestObserveReports(t *testing.T) {
	t.Parallel()
	tr := mustTree(t, 5, 2)
	for _, mode := range []Mode{Standalone, Grifork} {
		var seen *Report
		var during Totals
		ctx := ObserveReports(context.Background(), func(r *Report) { seen = r; during, _ = r.Progress() })
		tasks := &fakeTasks{printer: output.NewPrinter(io.Discard, nil), log: &callLog{}}
		var got *Report
		if mode == Standalone {
			got = RunStandalone(ctx, tr, tasks, RunOptions{Barrier: true})
		} else {
			got = RunGrifork(ctx, tr, tasks, &fakeForker{base: tasks, forks: &callLog{}}, GriforkOptions{})
		}
		if seen != got {
			t.Errorf("%s: the observer saw another report than the run returned", mode)
		}
		if during.Pending != 5 {
			t.Errorf("%s: at the start %+v, want 5 pending", mode, during)
		}
	}
}

func TestReportProgress(t *testing.T) {
	t.Parallel()
	r := sampleReport(t)
	tot, gen := r.Progress()
	if tot != (Totals{Hosts: 13, OK: 8, Failed: 1, Skipped: 4}) || gen != 0 {
		t.Errorf("Progress() = %+v, %d", tot, gen)
	}
	res, _ := r.Get("0.0-1.0-2.0")
	res.Status = StatusPending
	r.Set(res)
	if tot, gen = r.Progress(); tot.Pending != 1 || gen != 2 {
		t.Errorf("with one pending host at level 2: %+v, %d", tot, gen)
	}
}
