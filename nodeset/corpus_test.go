package nodeset

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// TestClusterShellCorpus replays testdata/clustershell.jsonl: random node sets
// and name lists with the names, order and folded string that ClusterShell
// 1.9 gives for them (testdata/clustershell.py wrote it).
func TestClusterShellCorpus(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/clustershell.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	cases := 0
	for line := 1; sc.Scan(); line++ {
		var c struct {
			In       *string
			Fromlist []string
			Names    []string
			Fold     string
			Err      string
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		cases++
		if c.In == nil {
			if got := Fold(c.Fromlist); got != c.Fold {
				t.Errorf("line %d: Fold(%q) = %q, ClusterShell %q", line, c.Fromlist, got, c.Fold)
			}
			if got, err := Expand(c.Fold); err != nil || !slices.Equal(got, c.Names) {
				t.Errorf("line %d: Expand(%q) = %q, %v; ClusterShell %q", line, c.Fold, got, err, c.Names)
			}
			continue
		}
		got, err := Expand(*c.In)
		switch {
		case c.Err != "":
			if err == nil {
				t.Errorf("line %d: Expand(%q) gave %d names; ClusterShell: %s", line, *c.In, len(got), c.Err)
			}
		case err != nil:
			t.Errorf("line %d: Expand(%q): %v; ClusterShell gives %q", line, *c.In, err, c.Fold)
		case !slices.Equal(got, c.Names):
			t.Errorf("line %d: Expand(%q) = %q, ClusterShell %q", line, *c.In, got, c.Names)
		case Fold(got) != c.Fold:
			t.Errorf("line %d: Fold(Expand(%q)) = %q, ClusterShell %q", line, *c.In, Fold(got), c.Fold)
		}
	}
	if err := sc.Err(); err != nil || cases < 1000 {
		t.Fatalf("read %d cases: %v", cases, err)
	}
}
