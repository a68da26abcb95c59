package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/fleet"
	"golang.org/x/sync/errgroup"
)

// The default shape keeps every figure network-bound on 2 cores: at most 8 links
// carry data at once (the senders of a branches-3 tree of 24 hosts), 8 × 50 Mbit/s
// = 400 Mbit/s, well under the ~1.2 Gbit/s that ssh + rsync reach here.
var (
	hostsFlag    = flag.Int("bench.hosts", 24, "hosts in the fleet of BenchmarkPropagate")
	rateFlag     = flag.Int("bench.rate", 50, "Mbit/s of every link (hosts' and the root's)")
	sizeFlag     = flag.Int("bench.mib", 4, "MiB of random data in the application tree")
	filesFlag    = flag.Int("bench.files", 20, "files in the application tree")
	branchesFlag = flag.Int("bench.branches", 3, "branches of grifork's tree")
)

// griforkTmp is where grifork mode keeps its shipped binary on the hosts
// (private per host); the cold scenario empties it, the warm one reuses it.
const griforkTmp = "/tmp/grifork-bench"

// propagation is the state one BenchmarkPropagate shares among its scenarios.
type propagation struct {
	f        *fleet.Fleet
	hosts    []string
	forked   []string // hosts with children: grifork mode runs grifork there
	bin      string   // the grifork binary
	dir      string   // HOME and working directory of every client process
	app      string   // the application tree, the source of every copy
	want     string   // its manifest
	bytes    int64    // its total file size
	bound    time.Duration
	baseline timing // flat-sequential's; zero until measured
	tab      table
	// others, if set, are hosts whose own completion time measure reports too.
	others []string
	// branches of grifork's trees (the run's, not the broadcast's).
	branches int
	// sshTimeout is ssh { timeout } in seconds; 0 = 10. A large fleet on two
	// busy cores answers a new connection's banner in more.
	sshTimeout int
	// The last grifork run's peak memory in KiB: the root's, and the largest
	// relay's when it broadcast.
	rootRSS, relayRSS int64
	relayWarm         bool // the relay binary is cached on every host
	// cpu holds the CPU tables of the runs of scenarios with cpu set.
	cpu string

	// The last run's start and, per host, when its copy was done (rsync
	// returned, or grifork's report says its task ended); see lastDone.
	mu    sync.Mutex
	start time.Time
	done  map[string]time.Time
}

// scenario is one way of getting the application tree onto every host.
type scenario struct {
	name string
	// shape is the scenario's time in units of the bound if links were the only
	// cost: how many copies the busiest link carries, summed over the steps that
	// cannot overlap.
	shape int
	// setup runs untimed before every timed run (before /srv/app is emptied).
	setup func(p *propagation, ctx context.Context) error
	run   func(p *propagation, ctx context.Context) error
	// keep leaves /srv/app as setup left it: the run updates what the hosts hold.
	keep bool
	// cpu: measure records where the run's CPU went (propagation.cpu).
	cpu bool
}

// BenchmarkPropagate copies one application tree (random data) from the root to
// every host of a shaped fleet, one scenario per sub-benchmark, and reports for
// each its wall time (s), speedup = flat-sequential's time / its time, and
// x_bound = its time / (data size / link rate).
func BenchmarkPropagate(b *testing.B) {
	if !*allFlag {
		b.Skip("BenchmarkPropagate runs with -bench.all (make bench's 15 minutes; BenchmarkBroadcast compares the rsync tree with flat rsync in every make bench)")
	}
	p := newPropagation(b, fleet.Options{Hosts: *hostsFlag, RateMbit: *rateFlag})
	p.tab = table{
		title: fmt.Sprintf("propagate %.1f MiB in %d files to %d hosts, %d Mbit/s per link, bound (size/rate) %.2fs",
			float64(p.bytes)/(1<<20), *filesFlag, len(p.hosts), *rateFlag, p.bound.Seconds()),
		header: []string{"scenario", "seconds", "speedup", "x_bound", "model"},
		load:   loadAvg(),
		note: "speedup = flat-sequential's seconds / seconds; x_bound = seconds / bound;\n" +
			"model = x_bound if links were the only cost (copies the busiest link carries, summed over steps)",
	}
	tree := p.tree(b)
	treeShape := fanoutSum(tree)
	tree.Walk(func(n *core.Node) {
		if !n.IsRoot() && len(n.Children) > 0 {
			p.forked = append(p.forked, n.Host.Name)
		}
	})
	n := len(p.hosts)
	noSetup := func(*propagation, context.Context) error { return nil }

	scenarios := []scenario{
		{name: "flat-sequential", shape: n, setup: noSetup, run: (*propagation).flatSequential},
		{name: "flat-parallel", shape: n, setup: noSetup, run: (*propagation).flatParallel},
		{name: "grifork-standalone", shape: treeShape, setup: noSetup, run: func(p *propagation, ctx context.Context) error {
			return p.grifork(ctx, standaloneBody(p.app))
		}},
		// Cold: every node first receives grifork's own binary from its parent.
		{name: "grifork-mode-cold", shape: treeShape, setup: (*propagation).clearBinaryCache, run: func(p *propagation, ctx context.Context) error {
			return p.grifork(ctx, griforkModeBody(p.app))
		}},
		// Warm: the binary cached by the cold run is reused (the usual case).
		{name: "grifork-mode-warm", shape: treeShape, setup: (*propagation).warmBinaryCache, run: func(p *propagation, ctx context.Context) error {
			return p.grifork(ctx, griforkModeBody(p.app))
		}},
	}
	// BenchmarkSlowHost shows the barrier's cost where it has one.
	scenarios = append(scenarios, scenario{name: "grifork-standalone-nobarrier", shape: treeShape, setup: noSetup, run: func(p *propagation, ctx context.Context) error {
		return p.grifork(ctx, standaloneBody(p.app), "--no-barrier")
	}})
	p.runScenarios(b, scenarios, func(b *testing.B, sc scenario, t timing) {
		d := t.all
		speedup := p.baseline.all.Seconds() / d.Seconds()
		xBound := d.Seconds() / p.bound.Seconds()
		b.ReportMetric(d.Seconds(), "s")
		b.ReportMetric(speedup, "speedup")
		b.ReportMetric(xBound, "x_bound")
		p.tab.add(sc.name, fmt.Sprintf("%.2f", d.Seconds()), fmt.Sprintf("%.2f", speedup),
			fmt.Sprintf("%.2f", xBound), fmt.Sprintf("%d", sc.shape))
	})
	p.tab.print()
}

// newPropagation starts a fleet with opts and writes the application tree.
// sized makes the application of b's propagation files files of mib MiB in
// all, for b alone: the benchmarks after it get the flags' sizes back.
func sized(b *testing.B, files, mib int) {
	oldFiles, oldSize := *filesFlag, *sizeFlag
	*filesFlag, *sizeFlag = files, mib
	b.Cleanup(func() { *filesFlag, *sizeFlag = oldFiles, oldSize })
}

func newPropagation(b *testing.B, opts fleet.Options) *propagation {
	fleet.Require(b)
	opts.Logf = func(string, ...any) {}
	f := fleet.StartT(b, opts)
	p := &propagation{f: f, hosts: f.Hosts(), dir: b.TempDir(), bin: griforkBin(b), branches: *branchesFlag}
	p.app = filepath.Join(p.dir, "app")
	var err error
	if p.bytes, err = makeApp(p.app, *filesFlag, int64(*sizeFlag)<<20); err != nil {
		b.Fatal(err)
	}
	if p.want, err = manifest(p.app); err != nil {
		b.Fatal(err)
	}
	p.bound = time.Duration(float64(p.bytes*8) / float64(opts.RateMbit*1_000_000) * float64(time.Second))
	return p
}

// tree is the tree grifork builds of the fleet's hosts.
func (p *propagation) tree(b *testing.B) *core.Tree {
	t, err := core.BuildTree(coreHosts(p.hosts), p.branches)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// timing is what measure takes of one run.
type timing struct {
	all    time.Duration // until every host has its copy
	others time.Duration // until every host of propagation.others has it; 0 without
}

// runScenarios runs each scenario as a sub-benchmark (scenarios[0] is the
// baseline, measured untimed first when -bench filtered it out) and hands row
// its mean timing.
func (p *propagation) runScenarios(b *testing.B, scenarios []scenario, row func(b *testing.B, sc scenario, t timing)) {
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			b.StopTimer() // measure times the copy only
			if sc.name != scenarios[0].name && p.baseline.all == 0 {
				t, err := p.measure(scenarios[0], nil)
				if err != nil {
					b.Fatalf("baseline %s: %v", scenarios[0].name, err)
				}
				p.baseline = t
			}
			var sum timing
			for range b.N {
				t, err := p.measure(sc, b)
				if err != nil {
					b.Fatalf("%s: %v", sc.name, err)
				}
				sum.all += t.all
				sum.others += t.others
			}
			mean := timing{all: sum.all / time.Duration(b.N), others: sum.others / time.Duration(b.N)}
			if sc.name == scenarios[0].name {
				p.baseline = mean
			}
			row(b, sc, mean)
		})
	}
}

// measure runs sc's setup, empties /srv/app on every host (unless sc.keep), times sc's run (with
// b's timer too, unless b is nil), and checks that every host holds a
// byte-identical copy.
func (p *propagation) measure(sc scenario, b *testing.B) (timing, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := sc.setup(p, ctx); err != nil {
		return timing{}, err
	}
	if err := p.onEveryHost(ctx, func(h string) error {
		if sc.keep {
			return nil
		}
		return p.empty(ctx, h)
	}); err != nil {
		return timing{}, fmt.Errorf("emptying /srv/app: %w", err)
	}
	start := time.Now()
	p.mu.Lock()
	p.start, p.done = start, map[string]time.Time{}
	p.mu.Unlock()
	var cpu *cpuSampler
	if sc.cpu {
		cpu = startCPUSampler()
	}
	if b != nil {
		b.StartTimer()
	}
	err := sc.run(p, ctx)
	d := time.Since(start)
	if b != nil {
		b.StopTimer()
	}
	if cpu != nil {
		cpu.finish()
		p.cpu += cpu.table(sc.name)
	}
	if err != nil {
		return timing{}, err
	}
	if err := p.checkAll(); err != nil {
		return timing{}, err
	}
	t := timing{all: d}
	if p.others != nil {
		if t.others, err = p.lastDone(p.others); err != nil {
			return timing{}, err
		}
	}
	return t, nil
}

// empty moves host h's /srv/app aside, so that the next copy starts from
// nothing. Moved, not deleted: on an ext4 without a journal (this VM's), each
// file created within minutes of many deletions in its block group costs a
// walk over the inodes just freed (find_inode_bit's recently_deleted): a
// quarter of a warm broadcast's relay CPU, a third of it for the bench's own
// deletions (docs/internals.md). What is moved aside goes with the fleet.
func (p *propagation) empty(ctx context.Context, h string) error {
	_, err := p.f.Exec(ctx, h, "sh", "-c", `if [ -e /srv/app ]; then mkdir -p /srv/.bench-old && mv /srv/app "$(mktemp -d /srv/.bench-old/XXXXXX)"; fi`)
	return err
}

// checkAll compares every host's /srv/app with the source, file by file.
func (p *propagation) checkAll() error {
	var mu sync.Mutex
	bad := map[string]string{}
	var g errgroup.Group
	g.SetLimit(4) // hashing is CPU work: 2 cores
	for _, h := range p.hosts {
		g.Go(func() error {
			dir, err := p.f.HostPath(h, "/srv/app")
			if err != nil {
				return err
			}
			got, err := manifest(dir)
			if err == nil && got != p.want {
				err = errors.New("differs from the source")
			}
			if err != nil {
				mu.Lock()
				bad[h] = err.Error()
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d hosts lack a byte-identical copy: %v", len(bad), len(p.hosts), bad)
	}
	return nil
}

func (p *propagation) onEveryHost(ctx context.Context, fn func(h string) error) error {
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, h := range p.hosts {
		g.Go(func() error { return fn(h) })
	}
	return g.Wait()
}

// rsyncTo is what a script without grifork runs per host: plain rsync over plain
// ssh with the fleet's key and known_hosts, and the options grifork's rsync
// helper uses by default (-az --delete), so only the topology differs.
func (p *propagation) rsyncTo(ctx context.Context, h string) error {
	rsh := fmt.Sprintf("ssh -i %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes",
		p.f.KeyFile(), p.f.KnownHostsFile())
	cmd := exec.CommandContext(ctx, "rsync", "-az", "--delete", "-e", rsh, p.app+"/", "root@"+h+":/srv/app/")
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "HOME="+p.dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rsync to %s: %w: %s", h, err, bytes.TrimSpace(out))
	}
	p.markDone(h, time.Now())
	return nil
}

func (p *propagation) markDone(h string, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done[h] = t
}

// lastDone is the time from the last run's start until every host of hosts had
// its copy, or an error when one of them has no time recorded.
func (p *propagation) lastDone(hosts []string) (time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var last time.Time
	for _, h := range hosts {
		t, ok := p.done[h]
		if !ok {
			return 0, fmt.Errorf("no completion time recorded for %s", h)
		}
		if t.After(last) {
			last = t
		}
	}
	return last.Sub(p.start), nil
}

// flatSequential is the for-loop script: one host after another.
func (p *propagation) flatSequential(ctx context.Context) error {
	for _, h := range p.hosts {
		if err := p.rsyncTo(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// flatParallel is pdcp/pssh with a fan-out of at least the fleet's size: every
// host at once, all through the root's one link.
func (p *propagation) flatParallel(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, h := range p.hosts {
		g.Go(func() error { return p.rsyncTo(gctx, h) })
	}
	return g.Wait()
}

// grifork runs the binary on a Griforkfile with body and the fleet's hosts and
// SSH settings, and fails unless every host is reported ok.
func (p *propagation) grifork(ctx context.Context, body string, args ...string) error {
	timeout := p.sshTimeout
	if timeout == 0 {
		timeout = 10
	}
	src := fmt.Sprintf("branches(%d)\nhosts %s\nssh { user = \"root\", keys = { %q }, known_hosts = %q, timeout = %d }\n%s",
		p.branches, luaList(p.hosts), p.f.KeyFile(), p.f.KnownHostsFile(), timeout, body)
	gf := filepath.Join(p.dir, "Griforkfile.lua")
	if err := os.WriteFile(gf, []byte(src), 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, p.bin, append([]string{"-f", gf}, args...)...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "HOME="+p.dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("grifork %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	if want := fmt.Sprintf("%d ok", len(p.hosts)); !strings.Contains(out.String(), want) {
		return fmt.Errorf("grifork %s: summary lacks %q:\n%s", strings.Join(args, " "), want, out.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		p.rootRSS = ru.Maxrss
	}
	p.parseRSS(out.String())
	return p.parseDone(out.String())
}

// doneBlock is a finish block that prints, per host, when its task ended (see
// parseDone): grifork's own report, so no polling of the hosts during a run.
const doneBlock = `
finish(function(report)
  for _, r in ipairs(report.results) do
    if r.start then print(string.format("bench-done %s %.3f", r.host, r.start + r.duration)) end
  end
end)
`

// parseDone records the completion times doneBlock printed, if any.
func (p *propagation) parseDone(out string) error {
	for line := range strings.Lines(out) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "bench-done ")
		if !ok {
			continue
		}
		var h string
		var unix float64
		if _, err := fmt.Sscanf(rest, "%s %f", &h, &unix); err != nil {
			return fmt.Errorf("grifork's finish block printed %q: %w", line, err)
		}
		p.markDone(h, time.Unix(0, int64(unix*1e9)))
	}
	return nil
}

func (p *propagation) clearBinaryCache(ctx context.Context) error {
	return p.onEveryHost(ctx, func(h string) error {
		_, err := p.f.Exec(ctx, h, "rm", "-rf", griforkTmp)
		return err
	})
}

// warmBinaryCache makes sure every node that forks holds grifork's binary in
// its cache, with an untimed grifork-mode run when one lacks it (the cold
// scenario leaves it warm unless -bench filtered that one out).
func (p *propagation) warmBinaryCache(ctx context.Context) error {
	cold, err := p.uncached()
	if err != nil || len(cold) == 0 {
		return err
	}
	if err := p.grifork(ctx, griforkModeBody(p.app)); err != nil {
		return fmt.Errorf("warming the binary cache: %w", err)
	}
	if cold, err = p.uncached(); err == nil && len(cold) > 0 {
		err = fmt.Errorf("no grifork binary cached in %s on %v after a grifork-mode run", griforkTmp, cold)
	}
	return err
}

// uncached lists the hosts with children in the tree (those grifork mode runs
// on) whose griforkTmp holds no shipped binary.
func (p *propagation) uncached() ([]string, error) {
	var out []string
	for _, h := range p.forked {
		dir, err := p.f.HostPath(h, griforkTmp)
		if err != nil {
			return nil, err
		}
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if !slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return strings.HasPrefix(e.Name(), "grifork-") }) {
			out = append(out, h)
		}
	}
	return out, nil
}

// standaloneBody: the root copies to generation 1, then each parent (logged
// into by the root) on to its children.
func standaloneBody(app string) string {
	return fmt.Sprintf(`
locally(function(src, dst)
  rsync(%q, "/srv/app/")
end)
remote(function(src, dst)
  rsync_remote("/srv/app/")
end)
`, app+"/")
}

// griforkModeBody: every node with children runs grifork and copies on itself.
func griforkModeBody(app string) string {
	return fmt.Sprintf(`mode "grifork"
grifork { tmpdir = %q, chdir = "/tmp" }
locally(function(src, dst)
  rsync(%q, "/srv/app/")
end)
remote(function(src, dst)
  rsync("/srv/app/")
end)
`, griforkTmp, app+"/")
}

func luaList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "{ " + strings.Join(q, ", ") + " }"
}

func coreHosts(names []string) []core.Host {
	hs := make([]core.Host, len(names))
	for i, n := range names {
		hs[i] = core.Host{Name: n}
	}
	return hs
}

// fanoutSum is, per level of t, the most children one node of that level has,
// summed over the levels: the copies the busiest sender's link carries in a
// store-and-forward tree.
func fanoutSum(t *core.Tree) int {
	sum := 0
	for _, gen := range append([][]*core.Node{{t.Root}}, t.Generations()...) {
		most := 0
		for _, n := range gen {
			most = max(most, len(n.Children))
		}
		sum += most
	}
	return sum
}

// makeApp writes files files of random (incompressible) data, size bytes in
// all, in a few nested directories, and returns the size written.
func makeApp(dir string, files int, size int64) (int64, error) {
	rng := rand.NewChaCha8([32]byte{'g', 'r', 'i', 'f', 'o', 'r', 'k'})
	// Sizes vary (1 to 3 units) like the files of a real application.
	weights := make([]int64, files)
	var units int64
	for i := range weights {
		weights[i] = int64(i%3 + 1)
		units += weights[i]
	}
	var total int64
	for i, w := range weights {
		sub := filepath.Join(dir, fmt.Sprintf("lib/mod%d", i%4))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return 0, err
		}
		n := size * w / units
		fh, err := os.Create(filepath.Join(sub, fmt.Sprintf("part%02d.bin", i)))
		if err != nil {
			return 0, err
		}
		_, err = io.CopyN(fh, rng, n)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// manifest lists every directory and file under root with each file's mode and
// SHA-256: two trees are identical exactly when their manifests are.
func manifest(root string) (string, error) {
	var sb strings.Builder
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			fmt.Fprintf(&sb, "%s %s/\n", info.Mode(), rel)
			return nil
		}
		fh, err := os.Open(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		h := sha256.New()
		if _, err := io.Copy(h, fh); err != nil {
			return err
		}
		fmt.Fprintf(&sb, "%s %s %s\n", info.Mode(), hex.EncodeToString(h.Sum(nil)), rel)
		return nil
	})
	return sb.String(), err
}
