package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/fleet"
	"github.com/grifork/grifork/node"
	"github.com/grifork/grifork/nodeset"
)

// budgetBody is a Griforkfile body whose edge task, on each host, first marks
// that it started (/srv/ran); where /srv/fail exists, it fails and says so in
// the directory syncDir, which every host sees (its /tmp and /srv are its own);
// where /srv/slow exists, it waits for that word and 2 s more, for the failure
// to reach the scheduler, however loaded the machine; then it copies app to
// /srv/app (from the root, or from the parent). head holds the directives
// (max_failures, mode); grifork mode copies from the node itself.
func budgetBody(app, syncDir, head string, grifork bool) string {
	copyRemote := `rsync_remote("/srv/app/")`
	if grifork {
		head += fmt.Sprintf("\nmode \"grifork\"\ngrifork { tmpdir = %q, chdir = \"/tmp\" }", griforkTmp)
		copyRemote = `rsync("/srv/app/")`
	}
	gate := fmt.Sprintf(`touch /srv/ran
if [ -e /srv/slow ]; then
  i=0; while [ ! -e %[1]s/failed ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; sleep 2
fi
if [ -e /srv/fail ]; then touch %[1]s/failed; echo planted failure >&2; exit 3; fi`, syncDir)
	return fmt.Sprintf(`%s
local SRC = %q
local GATE = %q
local function gate(dst) ssh(dst, GATE) end
locally(function(src, dst) gate(dst) rsync(SRC .. "/", "/srv/app/") end)
remote(function(src, dst) gate(dst) %s end)
`, head, app, gate, copyRemote)
}

// budgetRun is what a run with a failure budget must end with.
type budgetRun struct {
	mode       core.Mode
	ok, failed []string
	task       map[string]core.Block // failed host -> the task its line names; default locally/remote by level
	under      map[string][]string   // failed host -> the hosts skipped below it
	notStarted []string
	reason     string // the not-started cause
	ran        []string
	copied     []string // hosts that hold /srv/app
}

// holding is the hosts of hosts where path exists.
func holding(t *testing.T, f *fleet.Fleet, hosts []string, path string) []string {
	t.Helper()
	var out []string
	for _, h := range hosts {
		p, err := f.HostPath(h, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); err == nil {
			out = append(out, h)
		}
	}
	return out
}

// checkBudgetRun checks the exit code (1), the summary's headline and its
// failed and skipped lines (exactly those), and on the hosts which ones started
// a task and which ones got the copy.
func checkBudgetRun(t *testing.T, f *fleet.Fleet, tree *core.Tree, hosts []string, r result, w budgetRun) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	skipped := len(hosts) - len(w.ok) - len(w.failed)
	head := fmt.Sprintf("%s run: %d hosts: %d ok, %d failed, %d skipped in ", w.mode, len(hosts), len(w.ok), len(w.failed), skipped)
	if !strings.Contains(r.stdout, "\n"+head) {
		t.Errorf("summary lacks %q", head)
	}
	ids := map[string]*core.Node{}
	tree.Walk(func(n *core.Node) { ids[n.Name()] = n })
	for _, h := range w.failed {
		task, ok := w.task[h]
		if !ok {
			task = core.BlockRemote
			if ids[h].Level == 1 {
				task = core.BlockLocally
			}
		}
		if line := fmt.Sprintf("\n  %s (%s) %s: ", h, ids[h].ID, task); !strings.Contains(r.stdout, line) {
			t.Errorf("summary lacks the failed line %q", line)
		}
	}
	var want []string
	for p, hs := range w.under {
		want = append(want, fmt.Sprintf("skipped %d %s under %s (parent failed): %s", len(hs), hostsWord(len(hs)), p, nodeset.Fold(hs)))
	}
	if len(w.notStarted) > 0 {
		want = append(want, fmt.Sprintf("skipped %d %s (%s): %s", len(w.notStarted), hostsWord(len(w.notStarted)), w.reason, nodeset.Fold(w.notStarted)))
	}
	var got []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "skipped ") {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("skipped lines:\n got %q\nwant %q", got, want)
	}
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	if got := holding(t, f, hosts, "/srv/ran"); !slices.Equal(sorted(got), sorted(w.ran)) {
		t.Errorf("tasks started on %v, want %v", got, w.ran)
	}
	if got := holding(t, f, hosts, "/srv/app"); !slices.Equal(sorted(got), sorted(w.copied)) {
		t.Errorf("copies on %v, want %v", got, w.copied)
	}
}

func hostsWord(n int) string {
	if n == 1 {
		return "host"
	}
	return "hosts"
}

// pick returns hosts[i] for each i.
func pick(hosts []string, is ...int) []string {
	out := make([]string, len(is))
	for k, i := range is {
		out[k] = hosts[i]
	}
	return out
}

// TestFailureBudget runs a deploy with a failure budget on 13 hosts, branches
// 3: h0-h2 are generation 1, h3-h11 generation 2 (h3-h5 under h0, h6-h8 under
// h1, h9-h11 under h2), h12 generation 3 (under h3). Failures are planted on
// chosen hosts; each case checks which hosts ran a task, which got the copy,
// the summary's lines and the exit code.
func TestFailureBudget(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f := fleet.StartT(t, fleet.Options{Hosts: 13})
	hosts := f.Hosts()
	tree := hostTree(t, hosts, 3)
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	makeApp(t, app)
	h := func(is ...int) []string { return pick(hosts, is...) }
	// Outside /tmp and /srv: every host sees it.
	syncDir, err := os.MkdirTemp("/var/tmp", "grifork-e2e-budget-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(syncDir) })
	// plant resets every host, then marks the failing and the slow ones.
	plant := func(t *testing.T, fail, slow []string) {
		t.Helper()
		if err := os.RemoveAll(filepath.Join(syncDir, "failed")); err != nil {
			t.Fatal(err)
		}
		forEachHost(t, hosts, func(x string) error {
			_, err := f.Exec(context.Background(), x, "rm", "-rf", "/srv/app", "/srv/ran", "/srv/fail", "/srv/slow")
			return err
		})
		for _, x := range fail {
			if _, err := f.Exec(context.Background(), x, "touch", "/srv/fail"); err != nil {
				t.Fatal(err)
			}
		}
		for _, x := range slow {
			if _, err := f.Exec(context.Background(), x, "touch", "/srv/slow"); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("max_failures 0: generation 1 is a canary", func(t *testing.T) {
		plant(t, h(1), nil)
		gf := fleetFile(t, dir, f, hosts, 3, budgetBody(app, syncDir, "max_failures(0)", false))
		report := filepath.Join(dir, "canary.json")
		r := runGrifork(t, dir, "-f", gf, "--report", report)
		checkBudgetRun(t, f, tree, hosts, r, budgetRun{mode: core.Standalone,
			ok: h(0, 2), failed: h(1), under: map[string][]string{hosts[1]: h(6, 7, 8)},
			notStarted: h(3, 4, 5, 9, 10, 11, 12), reason: core.StoppedReason(1, "0"),
			ran: h(0, 1, 2), copied: h(0, 2)})
		// --retry runs the failed and the never-started hosts: all of them
		// succeed once the failure is gone.
		plant(t, nil, nil)
		r = runGrifork(t, dir, "-f", gf, "--retry", report)
		if r.code != 0 || !strings.Contains(r.stdout, "standalone run: 11 hosts: 11 ok, 0 failed, 0 skipped") {
			t.Errorf("--retry: exit %d, want 0 with 11 hosts ok", r.code)
		}
		if got := holding(t, f, hosts, "/srv/app"); !slices.Equal(got, h(1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)) {
			t.Errorf("--retry copied to %v", got)
		}
	})

	t.Run("max_failures 2 with failures spread over generations", func(t *testing.T) {
		// h1 (generation 1), then h4 and h5 (generation 2): the third failed
		// host stops the run; h12, in generation 3, never starts.
		plant(t, h(1, 4, 5), nil)
		gf := fleetFile(t, dir, f, hosts, 3, budgetBody(app, syncDir, "max_failures(2)", false))
		r := runGrifork(t, dir, "-f", gf)
		checkBudgetRun(t, f, tree, hosts, r, budgetRun{mode: core.Standalone,
			ok: h(0, 2, 3, 9, 10, 11), failed: h(1, 4, 5), under: map[string][]string{hosts[1]: h(6, 7, 8)},
			notStarted: h(12), reason: core.StoppedReason(3, "2"),
			ran: h(0, 1, 2, 3, 4, 5, 9, 10, 11), copied: h(0, 2, 3, 9, 10, 11)})
	})

	t.Run("a percentage, from the command line", func(t *testing.T) {
		// 10% of 13 hosts is 1.3: h4 and h10 failing in generation 2 are
		// over it. The flag replaces the file's budget of 5.
		plant(t, h(4, 10), nil)
		gf := fleetFile(t, dir, f, hosts, 3, budgetBody(app, syncDir, "max_failures(5)", false))
		r := runGrifork(t, dir, "-f", gf, "--max-failures", "10%")
		checkBudgetRun(t, f, tree, hosts, r, budgetRun{mode: core.Standalone,
			ok: h(0, 1, 2, 3, 5, 6, 7, 8, 9, 11), failed: h(4, 10),
			notStarted: h(12), reason: core.StoppedReason(2, "10%"),
			ran: h(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), copied: h(0, 1, 2, 3, 5, 6, 7, 8, 9, 11)})
	})

	t.Run("--no-barrier", func(t *testing.T) {
		// h1 and h2 are slow (until h4 has failed): h0's children start
		// without waiting for them, h4 fails while h1, h2, h3 and h5 run.
		// Those end normally; nothing below them starts.
		plant(t, h(4), h(1, 2))
		gf := fleetFile(t, dir, f, hosts, 3, budgetBody(app, syncDir, "max_failures(0)", false))
		r := runGrifork(t, dir, "-f", gf, "--no-barrier")
		checkBudgetRun(t, f, tree, hosts, r, budgetRun{mode: core.Standalone,
			ok: h(0, 1, 2, 3, 5), failed: h(4),
			notStarted: h(6, 7, 8, 9, 10, 11, 12), reason: core.StoppedReason(1, "0"),
			ran: h(0, 1, 2, 3, 4, 5), copied: h(0, 1, 2, 3, 5)})
	})

	t.Run("grifork mode", func(t *testing.T) {
		// As --no-barrier, across griforks: h4 fails on h0's grifork; the
		// root forks no grifork to h1 or h2, and h0's grifork, told by the
		// root, none to h3.
		plant(t, h(4), h(1, 2, 3))
		gf := fleetFile(t, dir, f, hosts, 3, budgetBody(app, syncDir, "max_failures(0)", true))
		r := runGrifork(t, dir, "-f", gf)
		checkBudgetRun(t, f, tree, hosts, r, budgetRun{mode: core.Grifork,
			ok: h(0, 1, 2, 3, 5), failed: h(4),
			notStarted: h(6, 7, 8, 9, 10, 11, 12), reason: core.StoppedReason(1, "0"),
			ran: h(0, 1, 2, 3, 4, 5), copied: h(0, 1, 2, 3, 5)})
		noLeftovers(t, f, 10*time.Second)
	})

	t.Run("a broadcast's failures count", func(t *testing.T) {
		// h5's copy fails its check: over a budget of 0 once the broadcast
		// is done, so no edge block runs anywhere; the other hosts hold the
		// broadcast's data. (The test hook corrupts past 4 MiB.)
		plant(t, nil, nil)
		big := make([]byte, 6<<20)
		rand.Read(big)
		if err := os.WriteFile(filepath.Join(app, "big.bin"), big, 0o644); err != nil {
			t.Fatal(err)
		}
		gf := fleetFile(t, dir, f, hosts, 3, fmt.Sprintf(`max_failures(0)
broadcast { from = %q, to = "/srv/app" }
locally(function(src, dst) ssh(dst, "touch /srv/ran") end)
remote(function(src, dst) ssh(dst, "touch /srv/ran") end)
`, app+"/"))
		r := runGriforkEnv(t, dir, []string{node.CorruptEnv + "=" + hosts[5]}, "-f", gf)
		checkBudgetRun(t, f, tree, hosts, r, budgetRun{mode: core.Standalone,
			failed: h(5), task: map[string]core.Block{hosts[5]: core.BlockBroadcast},
			notStarted: except(hosts, hosts[5]), reason: core.StoppedReason(1, "0"),
			copied: except(hosts, hosts[5])})
		if !strings.Contains(r.stdout, "SHA-256 mismatch") {
			t.Errorf("summary does not give the broadcast's failure")
		}
	})
}
