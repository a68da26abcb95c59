package dsl

import (
	"context"
	"errors"
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
