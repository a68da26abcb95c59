package gentime

import (
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/grifork/grifork/core"
)

// Gen is one generation (level) of a run.
type Gen struct {
	Level int
	Hosts int           // hosts of that level with a start time
	First time.Duration // from the run's start to the first task's start
	Last  time.Duration // from the run's start to the last task's end
	Sum   time.Duration // the tasks' durations added up
	Max   time.Duration // the longest task
}

// Span is the generation's wall time, from its first start to its last end.
func (g Gen) Span() time.Duration { return g.Last - g.First }

// Of returns the generations of r, by level. Hosts that never started count
// in no generation.
func Of(r *core.Report) []Gen {
	by := map[int]*Gen{}
	for _, res := range r.Results() {
		if res.Start.IsZero() {
			continue
		}
		g := by[res.Level]
		if g == nil {
			g = &Gen{Level: res.Level, First: res.Start.Sub(r.Start)}
			by[res.Level] = g
		}
		start := res.Start.Sub(r.Start)
		g.Hosts++
		g.First = min(g.First, start)
		g.Last = max(g.Last, start+res.Duration)
		g.Sum += res.Duration
		g.Max = max(g.Max, res.Duration)
	}
	out := make([]Gen, 0, len(by))
	for _, g := range by {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Gen) int { return a.Level - b.Level })
	return out
}

// Read decodes the report file that `grifork --report FILE` wrote.
func Read(path string) (*core.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r core.Report
	if err := r.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Write prints gens as a table, seconds with two decimals, under a header line.
func Write(w io.Writer, gens []Gen) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "gen\thosts\tfirst start\tlast end\tspan\ttask sum\tlongest task\t")
	for _, g := range gens {
		fmt.Fprintf(tw, "%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", g.Level, g.Hosts,
			g.First.Seconds(), g.Last.Seconds(), g.Span().Seconds(), g.Sum.Seconds(), g.Max.Seconds())
	}
	return tw.Flush()
}
