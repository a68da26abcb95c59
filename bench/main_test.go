package bench

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/grifork/grifork/internal/testkit/testbin"
)

// make bench must stay under 15 minutes on the 2-core VM: the scenarios behind
// -bench.all add about ten.
var allFlag = flag.Bool("bench.all", false, "also the scenarios make bench leaves out for time: BenchmarkLarge (200 hosts, both modes, warm and cold), BenchmarkSlowHost, BenchmarkPropagate (the rsync tree against flat copies at 50 Mbit/s), in BenchmarkBroadcast pdcp, the grifork-mode rsync tree and the broadcast with branches 2 and 4, and in BenchmarkBroadcastLarge branches 2")

// flagSet reports whether the flag name was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// binDir holds the grifork binary under test; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "grifork-bench-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	return m.Run()
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// griforkBin builds the binary once per process, on first use: a run without
// the fleet benchmarks (unprivileged, or -bench Scheduler) needs no build.
func griforkBin(b *testing.B) string {
	b.Helper()
	buildOnce.Do(func() { builtBin, buildErr = testbin.Build(binDir) })
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return builtBin
}

// table is the summary a benchmark prints after its sub-benchmarks: one row per
// scenario, in the order they first ran.
type table struct {
	title  string
	header []string
	rows   [][]string
	note   string // printed under the rows
	load   string // loadAvg when the benchmark started
	after  string // printed after the load, such as a CPU table
}

// add records a scenario's row (cells[0] names it). The testing package calls a
// sub-benchmark again with a larger b.N until -benchtime is reached: the last
// call replaces the row of the earlier ones.
func (t *table) add(cells ...string) {
	for i, r := range t.rows {
		if r[0] == cells[0] {
			t.rows[i] = cells
			return
		}
	}
	t.rows = append(t.rows, cells)
}

// print writes the table to standard output, where `make bench` shows it after
// the benchmark's lines: names left-aligned, figures right-aligned.
func (t *table) print() {
	if len(t.rows) == 0 {
		return
	}
	width := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%s\n", t.title)
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			if i == 0 {
				fmt.Fprintf(&sb, "  %-*s", width[i], c)
			} else {
				fmt.Fprintf(&sb, "  %*s", width[i], c)
			}
		}
		sb.WriteString("\n")
	}
	if t.note != "" {
		fmt.Fprintf(&sb, "%s\n", t.note)
	}
	fmt.Fprintf(&sb, "machine: %d CPUs, load average (1 min, this run's own processes included) %s at the start, %s at the end\n",
		runtime.NumCPU(), t.load, loadAvg())
	sb.WriteString(t.after)
	fmt.Println(sb.String())
}

// loadAvg is the 1-minute load average: figures taken while other work shares
// the CPUs are not comparable, and the tables say so.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}
