package dsl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

// runAllHosts runs block for every child of the root at once and returns the
// errors in host order.
func (h *harness) runAllHosts(ctx context.Context, block core.Block) []error {
	kids := h.tree.Root.Children
	errs := make([]error, len(kids))
	var wg sync.WaitGroup
	for i, n := range kids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := core.Edge{Block: block, Src: h.tree.Root, Dst: n}
			errs[i] = h.script.Run(core.WithEdge(ctx, e), e)
		}()
	}
	wg.Wait()
	return errs
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

const sixteen = `hosts { "h[01-16]" }
branches(16)
`

// overlapTimeout bounds a test whose tasks wait for one another: tasks that
// cannot overlap fail with it instead of hanging (it is never reached otherwise,
// however loaded the machine).
const overlapTimeout = 30 * time.Second

// 16 tasks that wait (sleep) overlap: each waits until all 16 have started,
// which only tasks running at the same time can see.
func TestTasksOverlapSleep(t *testing.T) {
	t.Parallel()
	h := load(t, sixteen+`
local started = 0
locally(function(src, dst)
  started = started + 1
  while started < 16 do sleep(0.001) end
end)`, nil)
	ctx, cancel := context.WithTimeout(context.Background(), overlapTimeout)
	defer cancel()
	noErrors(t, h.runAllHosts(ctx, core.BlockLocally))
}

// The same with commands: a fake Exec whose Local returns once all 16 are in
// flight sees 16 at once.
func TestTasksOverlapExec(t *testing.T) {
	t.Parallel()
	var inFlight, most atomic.Int32
	all := make(chan struct{})
	ex := &fakeExec{local: func(ctx context.Context, argv []string) (string, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		if n == 16 {
			close(all)
		}
		select {
		case <-all:
			return argv[len(argv)-1], nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}}
	h := load(t, sixteen+`locally(function(src, dst)
  local ok, err = pcall(sh, "copy", { dst })   -- pcall does not stop the overlap
  assert(ok and err == dst, "sh returned " .. tostring(err))
end)`, ex)
	ctx, cancel := context.WithTimeout(context.Background(), overlapTimeout)
	defer cancel()
	noErrors(t, h.runAllHosts(ctx, core.BlockLocally))
	if m := most.Load(); m != 16 {
		t.Errorf("at most %d commands ran at once, want 16", m)
	}
}

// Concurrent tasks writing one Lua table leave it consistent, pcall inside them
// catches helper errors, and the top level of the file ran once.
func TestSharedStateAndTopLevelOnce(t *testing.T) {
	t.Parallel()
	ex := &fakeExec{remote: func(_ context.Context, h core.Host, cmd string) (string, error) {
		if h.Name == "h07" {
			return "", fmt.Errorf("%s: command %s: exit status 1", h, cmd)
		}
		return "up", nil
	}}
	h := load(t, sixteen+`
print("top level")
local runs = 0
local seen = {}
local failures = {}
locally(function(src, dst)
  runs = runs + 1
  for i = 1, 10 do
    seen[#seen + 1] = dst .. "#" .. i
    sleep(0.001)
  end
  local ok, err = pcall(ssh, dst, "uptime")
  if not ok then failures[#failures + 1] = dst end
  seen[#seen + 1] = dst .. " after ssh"
end)
finish(function(report)
  local unique = {}
  for _, v in ipairs(seen) do unique[v] = true end
  local n = 0
  for _ in pairs(unique) do n = n + 1 end
  print(runs, #seen, n, table.concat(failures, ","))
end)
`, ex)
	for range 2 {
		noErrors(t, h.runAllHosts(context.Background(), core.BlockLocally))
	}
	if err := h.script.Finish(context.Background(), core.NewReport(core.Standalone, h.tree)); err != nil {
		t.Fatal(err)
	}
	// Two rounds of 16 tasks, 11 entries each, 16 distinct hosts × 11 distinct entries.
	want := "top level\n32\t352\t176\th07,h07\n"
	if got := h.out.String(); got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// Run returns when its ctx ends, whether the task waits for a command or loops in
// Lua; the VM stays usable for other tasks.
func TestRunCancel(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	var sawCancel atomic.Bool
	ex := &fakeExec{local: func(ctx context.Context, argv []string) (string, error) {
		started <- struct{}{}
		<-ctx.Done()
		sawCancel.Store(true)
		return "", fmt.Errorf("%s: command %s: %w", core.RootHost, argv[0], ctx.Err())
	}}
	h := load(t, `hosts { "web1", "web2", "web3" }
locally(function(src, dst)
  if dst == "web1" then
    pcall(sh, "hang", {})      -- a caught cancellation does not keep the task alive
    sh("hang", {})
  elseif dst == "web2" then
    while true do end
  end
  print("done", dst)
end)`, ex)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- h.run2(ctx, "web1") }()
	<-started
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("web1: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its ctx was cancelled")
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := h.run2(ctx2, "web2"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("web2: %v, want context.DeadlineExceeded", err)
	}

	// The VM is not stuck in web2's loop: another task runs to its end.
	done := make(chan error, 1)
	go func() { done <- h.run2(context.Background(), "web3") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the VM is stuck after a cancelled busy loop")
	}
	if !sawCancel.Load() {
		t.Error("the command's ctx was not cancelled")
	}
	if out := h.out.String(); strings.Contains(out, "done\tweb1") || strings.Contains(out, "done\tweb2") || !strings.Contains(out, "web3 | done\tweb3") {
		t.Errorf("output %q", out)
	}
}

func (h *harness) run2(ctx context.Context, dst string) error {
	e := core.Edge{Block: core.BlockLocally, Src: h.tree.Root, Dst: h.node(dst)}
	return h.script.Run(core.WithEdge(ctx, e), e)
}

// Close ends the tasks that are waiting, and later Runs fail.
func TestClose(t *testing.T) {
	t.Parallel()
	h := load(t, `hosts { "web1" } locally(function() sleep(60) end)`, nil)
	errc := make(chan error, 1)
	go func() { errc <- h.run2(context.Background(), "web1") }()
	time.Sleep(50 * time.Millisecond)
	h.script.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("a task cut short by Close returned nil")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if err := h.run2(context.Background(), "web1"); err == nil {
		t.Error("Run after Close returned nil")
	}
	h.script.Close() // idempotent
}

// A sleep longer than a Duration can hold waits until cancelled, not at all.
func TestSleepHuge(t *testing.T) {
	t.Parallel()
	h := load(t, `hosts { "web1" } locally(function() sleep(1e300) end)`, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := h.run2(ctx, "web1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("sleep(1e300) returned %v before it was cancelled", err)
	}
}
