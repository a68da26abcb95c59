package bench

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/fleet"
	"github.com/grifork/grifork/internal/testkit/gentime"
	"golang.org/x/sync/errgroup"
)

var (
	largeFlag    = flag.Int("bench.large", 200, "hosts in the fleet of BenchmarkLarge, which runs with -bench.all or this flag set (0 skips it)")
	largeMiBFlag = flag.Int("bench.largemib", 2, "MiB of random data BenchmarkLarge copies")
)

// pdshFanout is how many hosts pdsh/pdcp work on at once by default.
const pdshFanout = 32

// BenchmarkLarge copies a small application tree to every host of a large
// unshaped fleet (200 hosts; it runs with -bench.all or -bench.large N, since
// its 3½ minutes would take make bench over its 15) with
// grifork's rsync tree, branches 4, in both modes (grifork mode from a cold
// binary cache; with -bench.all from a warm one too), against two baselines of the same run: one link's copy (a single
// rsync from the root) and a flat rsync to every host, pdsh's default 32 at a
// time. Each row is the time and its ratios to the baselines; a table per
// grifork run shows where its time went, generation by generation (from the
// run's --report). The fleet alone takes half a minute to start on 2 cores.
func BenchmarkLarge(b *testing.B) {
	if *largeFlag == 0 || !*allFlag && !flagSet("bench.large") {
		b.Skip("BenchmarkLarge runs with -bench.all or -bench.large N")
	}
	sized(b, 8, *largeMiBFlag)
	p := newPropagation(b, fleet.Options{Hosts: *largeFlag})
	p.branches, p.sshTimeout = 4, 60
	p.tree(b).Walk(func(n *core.Node) {
		if !n.IsRoot() && len(n.Children) > 0 {
			p.forked = append(p.forked, n.Host.Name)
		}
	})
	p.tab = table{
		title: fmt.Sprintf("copy %.1f MiB in %d files to %d unshaped hosts, branches %d",
			float64(p.bytes)/(1<<20), *filesFlag, len(p.hosts), p.branches),
		header: []string{"scenario", "seconds", "x one link", "x flat rsync"},
		load:   loadAvg(),
		note: "x one link = seconds / one rsync from the root to one host; x flat rsync = seconds / an rsync from\n" +
			"the root to every host, 32 at a time (pdsh's default fan-out); both measured in this run",
	}
	reportFile := filepath.Join(p.dir, "report.json")
	griforkRun := func(body string) func(p *propagation, ctx context.Context) error {
		return func(p *propagation, ctx context.Context) error { return p.grifork(ctx, body, "--report", reportFile) }
	}
	noSetup := func(*propagation, context.Context) error { return nil }
	scenarios := []scenario{
		{name: fmt.Sprintf("flat rsync, %d at a time", pdshFanout), setup: noSetup, run: func(p *propagation, ctx context.Context) error {
			return p.flatFanout(ctx, pdshFanout)
		}},
		{name: "grifork standalone", setup: noSetup, run: griforkRun(standaloneBody(p.app))},
		{name: "grifork mode, cold", setup: (*propagation).clearBinaryCache, run: griforkRun(griforkModeBody(p.app))},
	}
	if *allFlag {
		scenarios = append(scenarios, scenario{name: "grifork mode, warm", setup: (*propagation).warmBinaryCache, run: griforkRun(griforkModeBody(p.app))})
	}
	link, err := p.oneLink()
	if err != nil {
		b.Fatal(err)
	}
	p.tab.add("one link (rsync to one host)", fmt.Sprintf("%.2f", link.Seconds()), "1.0", "-")
	var gens strings.Builder
	p.runScenarios(b, scenarios, func(b *testing.B, sc scenario, t timing) {
		d := t.all
		b.ReportMetric(d.Seconds(), "s")
		b.ReportMetric(d.Seconds()/link.Seconds(), "x_link")
		b.ReportMetric(d.Seconds()/p.baseline.all.Seconds(), "x_flat")
		p.tab.add(sc.name, fmt.Sprintf("%.2f", d.Seconds()), fmt.Sprintf("%.1f", d.Seconds()/link.Seconds()),
			fmt.Sprintf("%.2f", d.Seconds()/p.baseline.all.Seconds()))
		if !strings.HasPrefix(sc.name, "grifork") {
			return
		}
		r, err := gentime.Read(reportFile)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&gens, "\n%s, %.2f s, per generation (seconds from the run's start; task sum = the generation's task times added up):\n", sc.name, d.Seconds())
		if err := gentime.Write(&gens, gentime.Of(r)); err != nil {
			b.Fatal(err)
		}
	})
	p.tab.print()
	fmt.Print(gens.String())
}

// flatFanout rsyncs from the root to every host, n at a time.
func (p *propagation) flatFanout(ctx context.Context, n int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	for _, h := range p.hosts {
		g.Go(func() error { return p.rsyncTo(gctx, h) })
	}
	return g.Wait()
}

// oneLink times one rsync of the application from the root to the first host,
// into an empty /srv/app: the cost of one edge of any tree.
func (p *propagation) oneLink() (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := p.hosts[0]
	if err := p.empty(ctx, h); err != nil {
		return 0, err
	}
	p.mu.Lock()
	p.done = map[string]time.Time{}
	p.mu.Unlock()
	start := time.Now()
	if err := p.rsyncTo(ctx, h); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
