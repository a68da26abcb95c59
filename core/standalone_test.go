package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grifork/grifork/redact"
)

// taskCall is one task invocation seen by schedFake.
type taskCall struct {
	block      Block
	src, dst   string
	start, end time.Time
}

func (c taskCall) String() string {
	if c.dst == "" {
		return fmt.Sprintf("%s(%s)", c.block, c.src)
	}
	return fmt.Sprintf("%s(%s,%s)", c.block, c.src, c.dst)
}

// schedFake records every call with its times; delay and fail pick, per
// destination host, how long a task sleeps and what it returns.
type schedFake struct {
	delay     map[string]time.Duration
	fail      map[string]error // key: dst host, or the block name for prepare/finish
	block     map[string]bool  // these dst hosts wait for ctx to be cancelled
	onRun     func(ctx context.Context, e Edge)
	finishErr error

	mu       sync.Mutex
	calls    []taskCall
	finished *Report
	badEdge  string
	running  int
	peak     int
}

func (f *schedFake) Defined(Block) bool { return true }

func (f *schedFake) Run(ctx context.Context, e Edge) error {
	c := taskCall{block: e.Block, src: e.Src.Name(), start: time.Now()}
	key := string(e.Block)
	if e.Dst != nil {
		c.dst, key = e.Dst.Name(), e.Dst.Name()
	}
	f.mu.Lock()
	if got, ok := EdgeFrom(ctx); !ok || got != e {
		f.badEdge = fmt.Sprintf("ctx carries %v, want %v", got, e)
	}
	f.running++
	f.peak = max(f.peak, f.running)
	f.mu.Unlock()
	defer func() {
		c.end = time.Now()
		f.mu.Lock()
		f.running--
		f.calls = append(f.calls, c)
		f.mu.Unlock()
	}()
	if f.onRun != nil {
		f.onRun(ctx, e)
	}
	if f.block[key] {
		<-ctx.Done()
		return fmt.Errorf("ssh %s: killed", key)
	}
	if d := f.delay[key]; d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return f.fail[key]
}

// runningNow is the number of tasks running at this moment.
func (f *schedFake) runningNow() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running
}

func (f *schedFake) Finish(ctx context.Context, r *Report) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := EdgeFrom(ctx); !ok || e.Block != BlockFinish || e.Src.Name() != RootHost {
		f.badEdge = fmt.Sprintf("finish ctx carries %v", e)
	}
	f.finished = r
	return f.finishErr
}

func (f *schedFake) check(t *testing.T) []taskCall {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.badEdge != "" {
		t.Error(f.badEdge)
	}
	if f.finished == nil {
		t.Error("finish was not called")
	}
	return append([]taskCall(nil), f.calls...)
}

func (f *schedFake) callTo(t *testing.T, dst string) taskCall {
	t.Helper()
	for _, c := range f.check(t) {
		if c.dst == dst {
			return c
		}
	}
	t.Fatalf("no call for %s", dst)
	return taskCall{}
}

// statuses renders a report as "web1=ok web2=failed(boom) ..." for comparisons.
func statuses(r *Report) string {
	var b strings.Builder
	for _, res := range r.Results() {
		fmt.Fprintf(&b, "%s=%s", res.Host, res.Status)
		if res.Err != "" {
			fmt.Fprintf(&b, "(%s)", res.Err)
		}
		b.WriteString(" ")
	}
	return strings.TrimSpace(b.String())
}

func TestStandaloneOrderSequential(t *testing.T) {
	t.Parallel()
	for _, barrier := range []bool{true, false} {
		f := &schedFake{}
		r := RunStandalone(context.Background(), mustTree(t, 13, 3), f, RunOptions{Barrier: barrier, Concurrency: 1})
		var got []string
		for _, c := range f.check(t) {
			got = append(got, c.String())
		}
		want := "prepare(localhost) locally(localhost,web1) locally(localhost,web2) locally(localhost,web3) " +
			"remote(web1,web4) remote(web1,web5) remote(web1,web6) remote(web2,web7) remote(web2,web8) remote(web2,web9) " +
			"remote(web3,web10) remote(web3,web11) remote(web3,web12) remote(web4,web13)"
		if strings.Join(got, " ") != want {
			t.Errorf("barrier=%v order:\n got %s\nwant %s", barrier, strings.Join(got, " "), want)
		}
		if !r.OK() || r.Mode != Standalone || f.finished != r {
			t.Errorf("report %s", statuses(r))
		}
		for _, res := range r.Results() {
			want := BlockRemote
			if res.Level == 1 {
				want = BlockLocally
			}
			if res.Task != want || res.Start.IsZero() {
				t.Errorf("%s: task %s start %v", res.Host, res.Task, res.Start)
			}
		}
	}
}

func TestStandaloneBarrier(t *testing.T) {
	t.Parallel()
	// web1 is slow; with the barrier no generation-2 task may start before it ends.
	f := &schedFake{delay: map[string]time.Duration{"web1": 150 * time.Millisecond, "web2": 10 * time.Millisecond}}
	r := RunStandalone(context.Background(), mustTree(t, 13, 3), f, RunOptions{Barrier: true})
	if !r.OK() {
		t.Fatalf("report %s", statuses(r))
	}
	calls := f.check(t)
	lastEnd := map[int]time.Time{}
	firstStart := map[int]time.Time{}
	tr := mustTree(t, 13, 3)
	level := map[string]int{}
	for _, n := range tr.Nodes() {
		level[n.Name()] = n.Level
	}
	for _, c := range calls {
		if c.dst == "" {
			continue
		}
		l := level[c.dst]
		if c.end.After(lastEnd[l]) {
			lastEnd[l] = c.end
		}
		if fs, ok := firstStart[l]; !ok || c.start.Before(fs) {
			firstStart[l] = c.start
		}
	}
	for l := 2; l <= 3; l++ {
		if firstStart[l].Before(lastEnd[l-1]) {
			t.Errorf("generation %d started %v before generation %d ended", l, lastEnd[l-1].Sub(firstStart[l]), l-1)
		}
	}
}

// waitTimeout bounds a fake task that waits for another one: a scheduler that
// never lets the other start fails the test instead of hanging it (a working
// one never reaches it, however loaded the machine).
const waitTimeout = 30 * time.Second

func TestStandaloneNoBarrierFastBranch(t *testing.T) {
	t.Parallel()
	// branches 2: web1 -> web3 -> web7 is a fast branch; web2 is slow. Without
	// the barrier, web2 waits until web7 has started, which only a scheduler
	// without the barrier allows; with it, web7 must start after web2 ended.
	for _, barrier := range []bool{false, true} {
		web7Started := make(chan struct{})
		f := &schedFake{onRun: func(_ context.Context, e Edge) {
			switch {
			case e.Dst == nil:
			case e.Dst.Name() == "web7":
				close(web7Started)
			case e.Dst.Name() == "web2" && barrier:
				time.Sleep(50 * time.Millisecond) // a broken barrier gets time to show
			case e.Dst.Name() == "web2":
				select {
				case <-web7Started:
				case <-time.After(waitTimeout):
				}
			}
		}}
		r := RunStandalone(context.Background(), mustTree(t, 8, 2), f, RunOptions{Barrier: barrier})
		if !r.OK() {
			t.Fatalf("report %s", statuses(r))
		}
		web2, web7 := f.callTo(t, "web2"), f.callTo(t, "web7")
		if early := web7.start.Before(web2.end); early == barrier {
			t.Errorf("barrier=%v: web7 started before slow web2 ended: %v", barrier, early)
		}
	}
}

// The scheduler runs as many tasks at once as Concurrency allows (all of a
// generation by default): tasks are held until that many are running, then
// released, and the most seen at once must be exactly that.
func TestStandaloneConcurrency(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ concurrency, peak int }{
		{concurrency: 0, peak: 9},
		{concurrency: 3, peak: 3},
	} {
		release := make(chan struct{})
		f := &schedFake{onRun: func(ctx context.Context, e Edge) {
			if e.Dst != nil {
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
		}}
		done := make(chan *Report)
		go func() {
			done <- RunStandalone(context.Background(), mustTree(t, 9, 9), f, RunOptions{Barrier: true, Concurrency: tc.concurrency})
		}()
		deadline := time.Now().Add(waitTimeout)
		for f.runningNow() < tc.peak && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		close(release)
		r := <-done
		f.check(t)
		if !r.OK() {
			t.Fatalf("report %s", statuses(r))
		}
		if f.peak != tc.peak {
			t.Errorf("concurrency %d: peak of %d tasks at once, want %d", tc.concurrency, f.peak, tc.peak)
		}
	}
}

func TestStandaloneFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fail map[string]error
		want string
	}{
		{
			name: "generation 1",
			fail: map[string]error{"web2": errors.New("rsync failed\nexit status 23")},
			want: "web1=ok web2=failed(rsync failed; exit status 23) web3=ok web4=ok web5=ok web6=ok " +
				"web7=skipped(parent web2 failed) web8=skipped(parent web2 failed) web9=skipped(parent web2 failed) " +
				"web10=ok web11=ok web12=ok web13=ok",
		},
		{
			name: "generation 2 and a leaf",
			fail: map[string]error{"web4": errors.New("boom"), "web12": errors.New("bang")},
			want: "web1=ok web2=ok web3=ok web4=failed(boom) web5=ok web6=ok web7=ok web8=ok web9=ok " +
				"web10=ok web11=ok web12=failed(bang) web13=skipped(parent web4 failed)",
		},
		{
			name: "secret in error",
			fail: map[string]error{"web13": errors.New("sshpass -p hunter2 failed")},
			want: "web1=ok web2=ok web3=ok web4=ok web5=ok web6=ok web7=ok web8=ok web9=ok " +
				"web10=ok web11=ok web12=ok web13=failed(sshpass -p [REDACTED] failed)",
		},
	}
	for _, tc := range tests {
		for _, barrier := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/barrier=%v", tc.name, barrier), func(t *testing.T) {
				t.Parallel()
				var log bytes.Buffer
				f := &schedFake{fail: tc.fail}
				r := RunStandalone(context.Background(), mustTree(t, 13, 3), f, RunOptions{
					Barrier: barrier, Redactor: redact.New("hunter2"),
					Logger: slog.New(slog.NewTextHandler(&log, nil)),
				})
				calls := f.check(t)
				if got := statuses(r); got != tc.want {
					t.Errorf("got  %s\nwant %s", got, tc.want)
				}
				if r.OK() || len(r.RunErrors()) != 0 {
					t.Errorf("OK %v, run errors %v", r.OK(), r.RunErrors())
				}
				for _, res := range r.Results() {
					if res.Status == StatusSkipped {
						for _, c := range calls {
							if c.dst == res.Host {
								t.Errorf("skipped host %s ran", c.dst)
							}
						}
					}
				}
				if strings.Contains(log.String(), "hunter2") || !strings.Contains(log.String(), "task failed") {
					t.Errorf("log:\n%s", log.String())
				}
			})
		}
	}
}

func TestStandalonePrepareFails(t *testing.T) {
	t.Parallel()
	f := &schedFake{fail: map[string]error{"prepare": errors.New("mkdir: permission denied")}}
	r := RunStandalone(context.Background(), mustTree(t, 4, 3), f, RunOptions{Barrier: true})
	calls := f.check(t)
	if len(calls) != 1 || calls[0].block != BlockPrepare {
		t.Errorf("calls %v, want prepare only", calls)
	}
	want := "web1=skipped(prepare failed: mkdir: permission denied) web2=skipped(prepare failed: mkdir: permission denied) " +
		"web3=skipped(prepare failed: mkdir: permission denied) web4=skipped(prepare failed: mkdir: permission denied)"
	if got := statuses(r); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if errs := r.RunErrors(); len(errs) != 1 || errs[0] != (RunError{Task: BlockPrepare, Host: RootHost, Err: "mkdir: permission denied"}) {
		t.Errorf("run errors %v", errs)
	}
}

func TestStandaloneFinishFails(t *testing.T) {
	t.Parallel()
	f := &schedFake{finishErr: errors.New("report table: bad")}
	r := RunStandalone(context.Background(), mustTree(t, 2, 3), f, RunOptions{Barrier: true})
	f.check(t)
	if r.OK() || r.Count(StatusOK) != 2 {
		t.Errorf("OK %v, %s", r.OK(), statuses(r))
	}
	if errs := r.RunErrors(); len(errs) != 1 || errs[0].Task != BlockFinish || errs[0].Err != "report table: bad" {
		t.Errorf("run errors %v", errs)
	}
}

func TestStandalonePanicIsFailure(t *testing.T) {
	t.Parallel()
	f := &schedFake{onRun: func(_ context.Context, e Edge) {
		if e.Dst != nil && e.Dst.Name() == "web1" {
			panic("nil map")
		}
	}}
	r := RunStandalone(context.Background(), mustTree(t, 4, 3), f, RunOptions{Barrier: true})
	want := "web1=failed(internal error: panic: nil map) web2=ok web3=ok web4=skipped(parent web1 failed)"
	if got := statuses(r); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestStandaloneCancel(t *testing.T) {
	t.Parallel()
	for _, barrier := range []bool{true, false} {
		ctx, cancel := context.WithCancel(context.Background())
		// web1 hangs until cancelled; web2 cancels the run once it is running.
		f := &schedFake{
			block: map[string]bool{"web1": true},
			delay: map[string]time.Duration{"web3": 10 * time.Millisecond},
			onRun: func(_ context.Context, e Edge) {
				if e.Dst != nil && e.Dst.Name() == "web2" {
					time.AfterFunc(50*time.Millisecond, cancel)
				}
			},
		}
		// web1 only ends when cancelled: that RunStandalone returns is the check.
		r := RunStandalone(ctx, mustTree(t, 7, 3), f, RunOptions{Barrier: barrier})
		cancel()
		calls := f.check(t)
		res := map[string]Result{}
		for _, x := range r.Results() {
			res[x.Host] = x
		}
		if x := res["web1"]; x.Status != StatusFailed || x.Err != "context canceled" {
			t.Errorf("barrier=%v: running web1: %+v", barrier, x)
		}
		if x := res["web2"]; x.Status != StatusOK {
			t.Errorf("barrier=%v: web2: %+v", barrier, x)
		}
		for _, h := range []string{"web4", "web5", "web6"} {
			if x := res[h]; x.Status != StatusSkipped || x.Err != "cancelled" {
				t.Errorf("barrier=%v: %s: %+v", barrier, h, x)
			}
		}
		for _, c := range calls {
			if c.end.IsZero() {
				t.Errorf("call %v did not return before RunStandalone did", c)
			}
		}
	}
}

// A task that failed on its own before the run was cancelled keeps its error,
// even when the loop reads its completion only after the cancel (CI's
// TestHealCancel saw "down" reported as "context canceled" under load). The
// clock cancels the run on its first reading after the task returned: the
// one for its duration, taken once the task's worker has seen whether the
// run was cancelled, before the loop gets the completion.
func TestStandaloneFailureBeforeCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &schedFake{fail: map[string]error{"web1": errors.New("down")}}
	now := func() time.Time {
		if slices.ContainsFunc(f.calls0(), func(c taskCall) bool { return c.dst == "web1" }) {
			cancel()
		}
		return time.Now()
	}
	r := RunStandalone(ctx, mustTree(t, 2, 1), f, RunOptions{Barrier: true, Now: now})
	f.check(t)
	if ctx.Err() == nil {
		t.Fatal("the run was not cancelled")
	}
	if got, want := statuses(r), "web1=failed(down) web2=skipped(parent web1 failed)"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestStandaloneCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &schedFake{}
	r := RunStandalone(ctx, mustTree(t, 3, 3), f, RunOptions{Barrier: true})
	if calls := f.check(t); len(calls) != 0 {
		t.Errorf("calls %v", calls)
	}
	if got := statuses(r); got != "web1=skipped(cancelled) web2=skipped(cancelled) web3=skipped(cancelled)" {
		t.Errorf("got %s", got)
	}
}

func TestStandaloneClock(t *testing.T) {
	t.Parallel()
	var ticks atomic.Int64
	now := func() time.Time { return t0.Add(time.Duration(ticks.Add(1)) * time.Second) }
	f := &schedFake{}
	r := RunStandalone(context.Background(), mustTree(t, 2, 3), f, RunOptions{Barrier: true, Concurrency: 1, Now: now})
	f.check(t)
	// Clock reads: run start, then start and end of each task, then end before and after finish.
	if !r.Start.Equal(t0.Add(time.Second)) || r.Duration != 6*time.Second {
		t.Errorf("start %v duration %v", r.Start, r.Duration)
	}
	for _, res := range r.Results() {
		if res.Duration != time.Second {
			t.Errorf("%s: duration %v", res.Host, res.Duration)
		}
	}
}

func TestStandaloneEmptyTree(t *testing.T) {
	t.Parallel()
	f := &schedFake{}
	r := RunStandalone(context.Background(), mustTree(t, 0, 3), f, RunOptions{Barrier: true})
	if calls := f.check(t); len(calls) != 1 || calls[0].block != BlockPrepare || !r.OK() {
		t.Errorf("calls %v, report %s", calls, statuses(r))
	}
}
