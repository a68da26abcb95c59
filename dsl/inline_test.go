package dsl

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/grifork/grifork/core"
)

// immediateExec is an Exec whose calls wait on nothing (core.Immediate), as the
// dry run's Recorder: it records argv and fails "false".
type immediateExec struct {
	mu    sync.Mutex
	calls []string
}

func (x *immediateExec) Immediate() {}

func (x *immediateExec) Local(_ context.Context, argv []string) (string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.calls = append(x.calls, strings.Join(argv, " "))
	if argv[0] == "false" {
		return "", errors.New("exit status 1")
	}
	return argv[len(argv)-1] + "\n", nil
}

func (x *immediateExec) Remote(context.Context, core.Host, string) (string, error) { return "", nil }
func (x *immediateExec) Rsh(core.Host) string                                      { return "ssh" }

// Helpers whose Exec is Immediate run in line on the VM goroutine: their
// output, their failures (a Lua error at the caller's line), many of them in a
// loop, and sleep (which waits, so is not in line) between them, as with any Exec.
func TestImmediateHelpersRunInLine(t *testing.T) {
	t.Parallel()
	src := `hosts { "web1" }
locally(function(src, dst)
  local n = 0
  for i = 1, 2000 do
    n = n + tonumber(sh("echo", { tostring(i) }))
  end
  sleep(0)
  assert(n == 2001000, "sum " .. n)
  sh("false", { "now" })
  sh("echo", { "never" })
end)
`
	s, err := Load(context.Background(), Source{Name: "Griforkfile.lua", Content: []byte(src)}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ex := &immediateExec{}
	s.Bind(ex, nil)
	tree, err := core.BuildTree(s.Config.Hosts, 1)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background(), core.Edge{Block: core.BlockLocally, Src: tree.Root, Dst: tree.Root.Children[0]})
	if err == nil || !strings.Contains(err.Error(), "Griforkfile.lua:9: sh: exit status 1") {
		t.Errorf("error %v, want the failed sh at line 9", err)
	}
	if len(ex.calls) != 2001 || ex.calls[2000] != "false now" {
		t.Errorf("%d calls, the last %q; want 2001, the last \"false now\"", len(ex.calls), ex.calls[len(ex.calls)-1])
	}
}

// goid is the id of the calling goroutine, from its stack's first line.
func goid() string {
	buf := make([]byte, 64)
	f := strings.Fields(string(buf[:runtime.Stack(buf, false)]))
	return f[1] // "goroutine N [running]:"
}

// goroutineExec is immediateExec that notes which goroutine each call runs on.
type goroutineExec struct {
	immediateExec
	ids []string
}

func (x *goroutineExec) Local(ctx context.Context, argv []string) (string, error) {
	x.mu.Lock()
	x.ids = append(x.ids, goid())
	x.mu.Unlock()
	return x.immediateExec.Local(ctx, argv)
}

// With an Immediate Exec, a task whose VM is free runs on its caller's
// goroutine, as the dry run has it (no hop to the VM goroutine and back);
// tasks run from many goroutines at once still take the VM one at a time,
// share the Lua state, and one that waits (sleep) is resumed later as usual.
func TestImmediateTasksRunOnCaller(t *testing.T) {
	t.Parallel()
	src := `hosts { "web1", "web2" }
count = 0
locally(function(src, dst)
  if dst == "web2" then sleep(0) end
  count = count + 1
  sh("echo", { tostring(count) })
end)
`
	s, err := Load(context.Background(), Source{Name: "Griforkfile.lua", Content: []byte(src)}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ex := &goroutineExec{}
	s.Bind(ex, nil)
	tree, err := core.BuildTree(s.Config.Hosts, 2)
	if err != nil {
		t.Fatal(err)
	}
	web1 := core.Edge{Block: core.BlockLocally, Src: tree.Root, Dst: tree.Root.Children[0]}
	if err := s.Run(context.Background(), web1); err != nil {
		t.Fatal(err)
	}
	if me := goid(); len(ex.ids) != 1 || ex.ids[0] != me {
		t.Fatalf("the task ran on goroutines %v, want the caller's %s", ex.ids, me)
	}

	const runs = 40
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			if err := s.Run(context.Background(), core.Edge{Block: core.BlockLocally, Src: tree.Root, Dst: tree.Root.Children[i%2]}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, want := ex.calls[len(ex.calls)-1], "echo "+strconv.Itoa(1+runs); len(ex.calls) != 1+runs || !slices.Contains(ex.calls, want) {
		t.Errorf("%d calls, the last %q; want %d, one of them %q", len(ex.calls), got, 1+runs, want)
	}
}
