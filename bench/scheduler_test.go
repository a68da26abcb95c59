package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/dsl"
)

// schedHosts is the size of the simulated fleet: large enough that per-task
// costs dominate, small enough for one run to take well under a second.
const schedHosts = 10_000

// noopTasks is a Griforkfile whose every block does nothing, in Go.
type noopTasks struct{}

func (noopTasks) Defined(core.Block) bool                    { return true }
func (noopTasks) Run(context.Context, core.Edge) error       { return nil }
func (noopTasks) Finish(context.Context, *core.Report) error { return nil }

// emptyBlocks is the same in Lua: each task is a coroutine of the script's VM.
const emptyBlocks = `
prepare(function() end)
locally(function(src, dst) end)
remote(function(src, dst) end)
finish(function(report) end)
`

// BenchmarkScheduler measures what grifork itself costs per task, with tasks that
// do nothing, over a tree of 10k hosts (branches 4). The baseline is the
// cheapest correct schedule in plain Go: one goroutine per node, a WaitGroup per
// generation. Each scenario reports ns/task (of the median of medianRuns runs)
// and x_baseline (its time / the baseline's). No privileges needed.
func BenchmarkScheduler(b *testing.B) {
	hosts := make([]core.Host, schedHosts)
	for i := range hosts {
		hosts[i] = core.Host{Name: fmt.Sprintf("h%05d.example", i)}
	}
	tree, err := core.BuildTree(hosts, 4)
	if err != nil {
		b.Fatal(err)
	}
	script, err := dsl.Load(context.Background(), dsl.Source{Name: "bench.lua", Content: []byte(emptyBlocks)}, nil, dsl.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(script.Close)

	type scenario struct {
		name string
		run  func(ctx context.Context) error
	}
	standalone := func(tasks core.Tasks, barrier bool) func(context.Context) error {
		return func(ctx context.Context) error {
			r := core.RunStandalone(ctx, tree, tasks, core.RunOptions{Barrier: barrier})
			if got := r.Count(core.StatusOK); got != schedHosts {
				return fmt.Errorf("%d hosts ok, want %d: %v", got, schedHosts, r.RunErrors())
			}
			return nil
		}
	}
	scenarios := []scenario{
		{"go-fanout", func(ctx context.Context) error { return fanout(ctx, tree, noopTasks{}) }},
		{"core-barrier", standalone(noopTasks{}, true)},
		{"core-nobarrier", standalone(noopTasks{}, false)},
		{"core+lua-barrier", standalone(script, true)},
	}
	tab := table{
		title:  fmt.Sprintf("scheduler overhead: %d no-op tasks (branches 4, depth %d)", schedHosts, tree.Depth()),
		header: []string{"scenario", "ns/task", "x_baseline"},
		load:   loadAvg(),
	}
	var baseline time.Duration // median run
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			ctx := context.Background()
			if sc.name != scenarios[0].name && baseline == 0 {
				d, err := medianRun(ctx, scenarios[0].run)
				if err != nil {
					b.Fatal(err)
				}
				baseline = d
			}
			// Warm up (goroutine stacks, the VM's coroutines): a cold run
			// would measure the runtime growing, not the scheduler.
			if err := sc.run(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var d time.Duration
			for range b.N {
				var err error
				if d, err = medianRun(ctx, sc.run); err != nil {
					b.Fatal(err)
				}
			}
			if sc.name == scenarios[0].name {
				baseline = d
			}
			perTask := float64(d.Nanoseconds()) / schedHosts
			ratio := d.Seconds() / baseline.Seconds()
			b.ReportMetric(perTask, "ns/task")
			b.ReportMetric(ratio, "x_baseline")
			tab.add(sc.name, fmt.Sprintf("%.0f", perTask), fmt.Sprintf("%.2f", ratio))
		})
	}
	tab.print()
}

// medianRuns is how many runs one benchmark iteration takes the median of, so
// that `make bench` (-benchtime 1x) gets a figure that one descheduling on a
// shared 2-core machine does not move.
const medianRuns = 5

func medianRun(ctx context.Context, run func(context.Context) error) (time.Duration, error) {
	ds := make([]time.Duration, medianRuns)
	for i := range ds {
		start := time.Now()
		if err := run(ctx); err != nil {
			return 0, err
		}
		ds[i] = time.Since(start)
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// fanout runs locally for the root's children, then remote for each later
// generation, one goroutine per node and a barrier between generations.
func fanout(ctx context.Context, t *core.Tree, tasks core.Tasks) error {
	for i, gen := range t.Generations() {
		block := core.BlockRemote
		if i == 0 {
			block = core.BlockLocally
		}
		errs := make([]error, len(gen))
		var wg sync.WaitGroup
		for j, n := range gen {
			wg.Go(func() {
				e := core.Edge{Block: block, Src: n.Parent, Dst: n}
				errs[j] = tasks.Run(core.WithEdge(ctx, e), e)
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	return nil
}
