package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/fleet"
)

// griforkTmp is where the forks of these tests keep their files on the hosts
// (the hosts' /tmp is private, so every host has its own).
const griforkTmp = "/tmp/grifork-e2e"

// griforkBody is a grifork-mode Griforkfile body that propagates app to
// /srv/app: the root to its children, then every node to its own.
func griforkBody(app, extra string) string {
	return fmt.Sprintf(`mode "grifork"
grifork { tmpdir = %q, chdir = "/tmp" }
local SRC = %q
locally(function(src, dst)
  rsync(SRC .. "/", "/srv/app/")
end)
remote(function(src, dst)
  rsync("/srv/app/")
end)
%s
`, griforkTmp, app, extra)
}

// hostTree is the tree grifork builds for hosts: who is whose parent.
func hostTree(t *testing.T, hosts []string, branches int) *core.Tree {
	t.Helper()
	hs := make([]core.Host, len(hosts))
	for i, h := range hosts {
		hs[i] = core.Host{Name: h}
	}
	tr, err := core.BuildTree(hs, branches)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// forEachHost runs fn for every host concurrently and fails the test with
// every error.
func forEachHost(t *testing.T, hosts []string, fn func(h string) error) {
	t.Helper()
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Go(func() {
			if err := fn(h); err != nil {
				mu.Lock()
				errs = append(errs, h+": "+err.Error())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d hosts:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

// cachedBinaries lists the shipped binaries in a host's griforkTmp with their
// inodes, and fails on leftover run directories.
func cachedBinaries(f *fleet.Fleet, h string) (map[string]uint64, error) {
	dir, err := f.HostPath(h, griforkTmp)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "grifork-") {
			return nil, fmt.Errorf("%s left in %s", e.Name(), griforkTmp)
		}
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out[e.Name()] = fi.Sys().(*syscall.Stat_t).Ino
	}
	return out, nil
}

// TestGriforkMode runs grifork mode on 40 hosts, branches 3 (depth 4): the copy,
// who connected to whom, the binary cache on a second run, a failure at depth 3,
// and Ctrl-C. The steps share one fleet and run in order.
func TestGriforkMode(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f := fleet.StartT(t, fleet.Options{Hosts: 40})
	hosts := f.Hosts()
	tree := hostTree(t, hosts, 3)
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	makeApp(t, app)
	want := localManifest(t, app)

	// forked are the hosts grifork runs on: those with children.
	var forked []string
	tree.Walk(func(n *core.Node) {
		if !n.IsRoot() && len(n.Children) > 0 {
			forked = append(forked, n.Host.Name)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		gf := fleetFile(t, dir, f, hosts, 3, griforkBody(app, ""))
		r := runGrifork(t, dir, "-n", "-f", gf)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0", r.code)
		}
		// Every fork is in the plan, under the edge that leads to its node.
		for _, h := range forked {
			if !strings.Contains(r.stdout, "fork "+h+": cd -- /tmp && exec ") {
				t.Errorf("plan lacks the fork to %s:\n%s", h, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, "prepare_remote on "+forked[len(forked)-1]) {
			t.Errorf("plan lacks the blocks of the deepest forked node:\n%s", r.stdout)
		}
		forEachHost(t, hosts, func(h string) error {
			got, err := f.AcceptedConnections(h)
			if err == nil && len(got) > 0 {
				err = fmt.Errorf("the dry run connected: %v", got)
			}
			return err
		})
	})

	var firstCache map[string]map[string]uint64
	t.Run("propagate", func(t *testing.T) {
		gf := fleetFile(t, dir, f, hosts, 3, griforkBody(app, ""))
		r := runGrifork(t, dir, "-f", gf)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0", r.code)
		}
		if !strings.Contains(r.stdout, "40 ok") {
			t.Errorf("summary does not say 40 ok:\n%s", r.stdout)
		}
		checkAll(t, f, hosts, want)

		// Each host was logged into by its parent only: the root reached its
		// 3 children, every other host was reached from its parent's address.
		tree.Walk(func(n *core.Node) {
			if n.IsRoot() {
				return
			}
			from := f.RootAddr()
			if !n.Parent.IsRoot() {
				from = n.Parent.Host.Name
			}
			got, err := f.AcceptedConnections(n.Host.Name)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[from] == 0 {
				t.Errorf("%s (level %d) accepted connections from %v, want only from its parent %s", n.Host.Name, n.Level, got, from)
			}
		})

		firstCache = map[string]map[string]uint64{}
		var mu sync.Mutex
		forEachHost(t, forked, func(h string) error {
			c, err := cachedBinaries(f, h)
			if err == nil && len(c) != 1 {
				err = fmt.Errorf("cache holds %v, want one binary", c)
			}
			mu.Lock()
			firstCache[h] = c
			mu.Unlock()
			return err
		})
		noLeftovers(t, f, 5*time.Second)
	})

	t.Run("second run reuses the binary", func(t *testing.T) {
		if firstCache == nil {
			t.Skip("first run failed")
		}
		if err := os.WriteFile(filepath.Join(app, "new.txt"), []byte("second run\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		gf := fleetFile(t, dir, f, hosts, 3, griforkBody(app, ""))
		if r := runGrifork(t, dir, "-f", gf); r.code != 0 {
			t.Fatalf("exit %d, want 0", r.code)
		}
		checkAll(t, f, hosts, localManifest(t, app))
		forEachHost(t, forked, func(h string) error {
			c, err := cachedBinaries(f, h)
			if err != nil {
				return err
			}
			if fmt.Sprint(c) != fmt.Sprint(firstCache[h]) {
				return fmt.Errorf("binary cache changed from %v to %v: copied again", firstCache[h], c)
			}
			return nil
		})
	})

	t.Run("failure at depth 3", func(t *testing.T) {
		var bad *core.Node
		tree.Walk(func(n *core.Node) {
			if bad == nil && n.Level == 3 && len(n.Children) > 0 {
				bad = n
			}
		})
		// The remote block fails for bad only: its copy cannot be written.
		gf := fleetFile(t, dir, f, hosts, 3, fmt.Sprintf(`mode "grifork"
grifork { tmpdir = %q, chdir = "/tmp" }
locally(function(src, dst)
  rsync(%q, "/srv/app/")
end)
remote(function(src, dst)
  if dst == %q then
    sh("sh", { "-c", "echo no space left on the device >&2; exit 1" })
  end
  rsync("/srv/app/")
end)
`, griforkTmp, app+"/", bad.Host.Name))
		r := runGrifork(t, dir, "-f", gf)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1", r.code)
		}
		child := bad.Children[0].Host.Name
		for _, s := range []string{
			"38 ok, 1 failed, 1 skipped",
			bad.Host.Name + " (" + bad.ID + ") remote:",
			"skipped 1 host under " + bad.Host.Name + " (parent failed): " + child,
		} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("summary lacks %q:\n%s", s, r.stdout)
			}
		}
		noLeftovers(t, f, 5*time.Second)
	})

	t.Run("interrupt", func(t *testing.T) {
		// Generation 2 gets stuck in a slow task on every depth-1 host.
		gf := fleetFile(t, dir, f, hosts, 3, fmt.Sprintf(`mode "grifork"
grifork { tmpdir = %q, chdir = "/tmp" }
locally(function(src, dst) end)
remote(function(src, dst)
  sh("sleep 300")
end)
`, griforkTmp))
		run := startGrifork(t, dir, "-f", gf)
		// Wait until every depth-1 host runs its slow tasks.
		for _, n := range tree.Root.Children {
			waitProcs(t, f, n.Host.Name, "sleep 300", len(n.Children), run)
		}
		code, took := run.interrupt(t, 15*time.Second)
		if code != 130 {
			t.Errorf("exit code %d, want 130", code)
		}
		// As in standalone mode: the 9 tasks running on the nodes failed with
		// the root's reason, the hosts below them never started.
		if out := run.out.String(); !strings.Contains(out, "40 hosts: 3 ok, 9 failed, 28 skipped") ||
			strings.Count(out, ") remote: interrupt signal received\n") != 9 ||
			!strings.Contains(out, "skipped 28 hosts (cancelled): ") {
			t.Errorf("summary does not count the running tasks failed and the rest skipped:\n%s", out)
		}
		if took > 8*time.Second {
			t.Errorf("took %v to stop, want a few seconds", took)
		}
		noLeftovers(t, f, 5*time.Second)
	})
}

// TestGriforkExample runs examples/Griforkfile.grifork.lua on a fleet, with an
// override for the fleet's hosts, keys and login, shipping a test application
// (APP_SRC) to /srv/app of every host.
func TestGriforkExample(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f := fleet.StartT(t, fleet.Options{Hosts: 12})
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	makeApp(t, app)
	override := fleetOverride(t, dir, f, fmt.Sprintf("grifork { chdir = \"/tmp\", tmpdir = %q, user = \"root\" }\n", griforkTmp))
	r := runGriforkEnv(t, dir, []string{"APP_SRC=" + app + "/"}, "-f", example(t, "grifork"), "-o", override)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0", r.code)
	}
	if !strings.Contains(r.stdout, "12 ok, 0 failed, 0 skipped") {
		t.Errorf("summary does not say 12 ok:\n%s", r.stdout)
	}
	checkAll(t, f, f.Hosts(), localManifest(t, app))
	noLeftovers(t, f, 5*time.Second)
}
