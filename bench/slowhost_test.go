package bench

import (
	"context"
	"flag"
	"fmt"
	"testing"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/fleet"
)

// With branches 3, 15 hosts make three generations (3, 9, 3) and put the third
// under host 1, outside the slow host's subtree: a barrier after generation 2
// holds those hosts until the slow host's children have their copies.
var (
	slowHostsFlag = flag.Int("bench.slowhosts", 15, "hosts in the fleet of BenchmarkSlowHost")
	slowDivFlag   = flag.Int("bench.slowdiv", 5, "BenchmarkSlowHost: the slow host's link has -bench.rate divided by this")
)

// BenchmarkSlowHost is BenchmarkPropagate on a fleet where one generation-1 host
// (the last one, host number -bench.branches) has a link -bench.slowdiv times
// slower than the others. It compares grifork with and without the generation
// barrier and reports, besides the total time, "others": the time until every
// host outside the slow host's subtree has its copy, which the barrier ties to
// the slow host and --no-barrier should not. It runs with -bench.all: its
// minute and a half would take make bench over its 15.
func BenchmarkSlowHost(b *testing.B) {
	if !*allFlag {
		b.Skip("BenchmarkSlowHost runs with -bench.all (make bench's 15 minutes)")
	}
	slowRate := max(1, *rateFlag / *slowDivFlag)
	slowIdx := *branchesFlag
	if *slowHostsFlag <= slowIdx {
		b.Fatalf("-bench.slowhosts %d: want more than -bench.branches %d, so that generation 1 is full", *slowHostsFlag, slowIdx)
	}
	p := newPropagation(b, fleet.Options{Hosts: *slowHostsFlag, RateMbit: *rateFlag, HostRateMbit: map[int]int{slowIdx: slowRate}})
	slow := p.hosts[slowIdx-1]
	var others []string
	below := map[string]bool{slow: true}
	p.tree(b).Walk(func(n *core.Node) {
		if n.IsRoot() {
			return
		}
		if below[n.Parent.Host.Name] {
			below[n.Host.Name] = true
			return
		}
		if !below[n.Host.Name] {
			others = append(others, n.Host.Name)
		}
	})
	p.tab = table{
		title: fmt.Sprintf("propagate %.1f MiB in %d files to %d hosts, %d Mbit/s per link but host %d (%s, generation 1, %d hosts below it) at %d Mbit/s",
			float64(p.bytes)/(1<<20), *filesFlag, len(p.hosts), *rateFlag, slowIdx, slow, len(below)-1, slowRate),
		header: []string{"scenario", "seconds", "speedup", "others_s", "others_speedup"},
		load:   loadAvg(),
		note: fmt.Sprintf("speedup = flat-sequential's seconds / seconds; others_s = seconds until the %d hosts outside\n"+
			"the slow host's subtree have their copy; others_speedup = flat-sequential's others_s / others_s", len(others)),
	}
	noSetup := func(*propagation, context.Context) error { return nil }
	body := func(p *propagation) string { return standaloneBody(p.app) + doneBlock }
	scenarios := []scenario{
		{name: "flat-sequential", setup: noSetup, run: (*propagation).flatSequential},
		{name: "grifork-standalone", setup: noSetup, run: func(p *propagation, ctx context.Context) error {
			return p.grifork(ctx, body(p))
		}},
		{name: "grifork-standalone-nobarrier", setup: noSetup, run: func(p *propagation, ctx context.Context) error {
			return p.grifork(ctx, body(p), "--no-barrier")
		}},
	}
	p.others = others
	p.runScenarios(b, scenarios, func(b *testing.B, sc scenario, t timing) {
		speedup := p.baseline.all.Seconds() / t.all.Seconds()
		oSpeedup := p.baseline.others.Seconds() / t.others.Seconds()
		b.ReportMetric(t.all.Seconds(), "s")
		b.ReportMetric(speedup, "speedup")
		b.ReportMetric(t.others.Seconds(), "others_s")
		b.ReportMetric(oSpeedup, "others_speedup")
		p.tab.add(sc.name, fmt.Sprintf("%.2f", t.all.Seconds()), fmt.Sprintf("%.2f", speedup),
			fmt.Sprintf("%.2f", t.others.Seconds()), fmt.Sprintf("%.2f", oSpeedup))
	})
	p.tab.print()
}
