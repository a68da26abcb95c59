package dsl

import (
	"context"
	"errors"
	"fmt"
	"github.com/grifork/grifork/internal/testkit/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grifork/grifork/core"
)

// failingExec fails every command the way sshx reports a non-zero exit status.
func failingExec() *fakeExec {
	return &fakeExec{
		local: func(_ context.Context, argv []string) (string, error) {
			return "", fmt.Errorf("%s: command %s: exit status 1", core.RootHost, core.ShellJoin(argv))
		},
		remote: func(_ context.Context, h core.Host, cmdline string) (string, error) {
			return "", fmt.Errorf("%s: command %s: exit status 1", h, cmdline)
		},
	}
}

// TestErrors loads each testdata/errors/*.lua; a file that loads has each of its
// blocks run on a small tree where every command fails. The golden file holds the
// load error, or one line per block.
func TestErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("no error cases: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".lua")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			h, err := tryLoad(t, string(src), nil, failingExec())
			var got string
			if err != nil {
				var de *Error
				if !errors.As(err, &de) {
					t.Fatalf("Load error is %T, not *dsl.Error: %v", err, err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("Load error is not one line: %q", err)
				}
				got = err.Error() + "\n"
			} else {
				got = h.runAll()
			}
			golden.Check(t, strings.TrimSuffix(file, ".lua")+".golden", got)
		})
	}
}

// runAll runs every defined block once on the first hosts of the tree and
// reports each outcome on a line.
func (h *harness) runAll() string {
	var b strings.Builder
	hosts := h.script.Config.Hosts
	out := func(block core.Block, err error) {
		if err == nil {
			fmt.Fprintf(&b, "%s: ok\n", block)
		} else {
			fmt.Fprintf(&b, "%s: %v\n", block, err)
		}
	}
	for _, block := range []core.Block{core.BlockPrepare, core.BlockLocally, core.BlockRemote,
		core.BlockPrepareRemote, core.BlockFinishRemote} {
		if !h.script.Defined(block) {
			continue
		}
		switch {
		case block == core.BlockPrepare:
			out(block, h.run(block, core.RootHost, ""))
		case block == core.BlockLocally:
			out(block, h.run(block, core.RootHost, hosts[0].String()))
		case block == core.BlockRemote && len(hosts) > 1:
			out(block, h.run(block, hosts[0].String(), hosts[1].String()))
		case block != core.BlockRemote:
			out(block, h.run(block, hosts[0].String(), ""))
		}
	}
	if h.script.Defined(core.BlockFinish) {
		out(core.BlockFinish, h.script.Finish(context.Background(), core.NewReport(h.script.Config.Mode, h.tree)))
	}
	return b.String()
}
