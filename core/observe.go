package core

import "context"

type observerKey struct{}

// ObserveReports returns ctx carrying fn: a run started with it (RunStandalone,
// RunGrifork on the root) calls fn with its report as soon as the report exists, so a caller
// can show live progress while the run updates it. It travels in ctx rather than
// in the options because the CLI hands ctx to every run the same way.
func ObserveReports(ctx context.Context, fn func(*Report)) context.Context {
	return context.WithValue(ctx, observerKey{}, fn)
}

func observe(ctx context.Context, r *Report) {
	if fn, ok := ctx.Value(observerKey{}).(func(*Report)); ok {
		fn(r)
	}
}

// Progress counts the hosts by status without copying the results (a live
// status line reads it several times a second) and gives the lowest level that
// still has a pending host: the generation in progress; 0 when none is pending.
func (r *Report) Progress() (t Totals, gen int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Hosts = len(r.results)
	for i := range r.results {
		switch x := &r.results[i]; x.Status {
		case StatusOK:
			t.OK++
		case StatusFailed:
			t.Failed++
		case StatusSkipped:
			t.Skipped++
		default:
			t.Pending++
			if gen == 0 || x.Level < gen {
				gen = x.Level
			}
		}
	}
	return t, gen
}
