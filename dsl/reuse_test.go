package dsl

import (
	"runtime"
	"strings"
	"testing"

	"github.com/grifork/grifork/core"
)

// Tasks run one after another on reused coroutines: a block that failed leaves
// nothing behind for the next, arguments are the next task's own, and a block
// that waited (inside pcall too) hands its coroutine on cleanly.
func TestCoroutineReuse(t *testing.T) {
	t.Parallel()
	h := load(t, `hosts { "a", "b", "c" }
branches(3)
calls = 0
locally(function(src, dst)
  calls = calls + 1
  assert(select("#", src, dst) == 2 and src == "localhost", "arguments")
  if dst == "b" then error("b fails") end
  local ok = pcall(function() sh("true") end)
  assert(ok, "pcall around a helper")
  print(dst .. " " .. calls)
end)
prepare(function(...) print("prepare " .. select("#", ...)) end)
`, nil)
	tests := []struct {
		block   core.Block
		dst     string
		wantErr string
	}{
		{core.BlockLocally, "a", ""},
		{core.BlockLocally, "b", "b fails"},
		{core.BlockLocally, "c", ""},
		{core.BlockPrepare, "", ""},
		{core.BlockLocally, "b", "b fails"},
		{core.BlockLocally, "a", ""},
	}
	for i, tc := range tests {
		err := h.run(tc.block, "localhost", tc.dst)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Fatalf("task %d (%s %s): %v", i, tc.block, tc.dst, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Fatalf("task %d (%s %s): error %v, want %q", i, tc.block, tc.dst, err, tc.wantErr)
		}
	}
	want := "a | a 1\nc | c 3\nlocalhost | prepare 1\na | a 5\n"
	if got := h.out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// A task costs little memory: a fresh coroutine with gopher-lua's default sizes
// took about 100 KiB, and a grifork-mode dry run holds one per waiting host.
func TestTaskMemory(t *testing.T) {
	h := load(t, `hosts { "a" }
locally(function(src, dst) end)
`, nil)
	const runs = 2000
	if err := h.run(core.BlockLocally, "localhost", "a"); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		if err := h.run(core.BlockLocally, "localhost", "a"); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 8<<10 {
		t.Errorf("%d bytes allocated per task, want at most 8 KiB", per)
	}
}
