package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/fleet"
)

// TestStandaloneHeal stops a generation-1 host of a 12-host fleet (branches 3) and
// runs with --heal: the dead host fails, its three children are re-attached to
// live hosts and every other host gets a byte-identical copy.
func TestStandaloneHeal(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f, dir, app, gf := syncFleet(t, 12)
	hosts := f.Hosts()

	// hosts[1] is in generation 1 with children hosts[6..8].
	dead := hosts[1]
	if err := f.StopHost(dead); err != nil {
		t.Fatal(err)
	}
	r := runGrifork(t, dir, "--heal", "-f", gf)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (a host failed)", r.code)
	}
	if !strings.Contains(r.stdout, "11 ok, 1 failed, 0 skipped") {
		t.Errorf("summary does not count 11 ok and the dead host failed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "  "+dead+" (") {
		t.Errorf("summary does not list the dead host %s as failed:\n%s", dead, r.stdout)
	}
	for _, h := range hosts[6:9] {
		found := false
		for _, line := range strings.Split(r.stdout, "\n") {
			found = found || strings.HasPrefix(line, "  "+h+" to ") && strings.HasSuffix(line, "(parent "+dead+" failed)")
		}
		if !found {
			t.Errorf("summary does not say %s was re-attached:\n%s", h, r.stdout)
		}
	}
	checkAll(t, f, except(hosts, dead), localManifest(t, app))
}

// TestGriforkHeal is TestStandaloneHeal in grifork mode, on 12 of a 13-host
// fleet (branches 3): the dead host fails and the root serves its children.
// Then, on all 13 hosts, the grifork of a generation-2 node is killed while it
// serves its child: without --heal the child is failed (its copy was running),
// with it the node's parent re-attaches the child (--heal reached its grifork)
// and every host ends with the copy. No grifork or run directory is left.
func TestGriforkHeal(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f := fleet.StartT(t, fleet.Options{Hosts: 13})
	hosts := f.Hosts()
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	makeApp(t, app)
	want := localManifest(t, app)
	// noneLeft checks every host, and the run directories of those that ran
	// a grifork.
	noneLeft := func(t *testing.T, forked ...string) {
		t.Helper()
		noLeftovers(t, f, 5*time.Second)
		forEachHost(t, forked, func(h string) error {
			_, err := cachedBinaries(f, h)
			return err
		})
	}
	reattached := func(t *testing.T, out, h, via, failed string) {
		t.Helper()
		if !strings.Contains(out, "\n  "+h+" to "+via+" (parent "+failed+" failed)\n") {
			t.Errorf("summary does not say %s was re-attached to %s:\n%s", h, via, out)
		}
	}

	t.Run("dead host", func(t *testing.T) {
		// hosts[1] is in generation 1 with children hosts[6..8].
		dead := hosts[1]
		if err := f.StopHost(dead); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := f.StartHost(context.Background(), dead); err != nil {
				t.Fatal(err)
			}
		}()
		gf := fleetFile(t, dir, f, hosts[:12], 3, griforkBody(app, ""))
		r := runGrifork(t, dir, "--heal", "-f", gf)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1 (a host failed):\n%s", r.code, r.stdout)
		}
		for _, s := range []string{"11 ok, 1 failed, 0 skipped", "\n  " + dead + " ("} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("summary lacks %q:\n%s", s, r.stdout)
			}
		}
		for _, h := range hosts[6:9] {
			reattached(t, r.stdout, h, core.RootHost, dead)
		}
		checkAll(t, f, except(hosts[:12], dead), want)
		noneLeft(t, hosts[0], hosts[2])
	})

	// hosts[3] (generation 2, under hosts[0]) serves hosts[12] slowly: a sleep
	// without a shell, which dies with the killed grifork (a parent-death
	// signal; a shell's own child would outlive it).
	victim, child := hosts[3], hosts[12]
	gf := fleetFile(t, dir, f, hosts, 3, fmt.Sprintf(`mode "grifork"
grifork { tmpdir = %q, chdir = "/tmp" }
locally(function(src, dst)
  rsync(%q, "/srv/app/")
end)
remote(function(src, dst)
  if src == %q then sh("sleep", { "300" }) end
  rsync("/srv/app/")
end)
`, griforkTmp, app+"/", victim))
	for _, heal := range []bool{false, true} {
		t.Run(fmt.Sprintf("grifork killed, heal=%v", heal), func(t *testing.T) {
			args := []string{"-f", gf}
			if heal {
				args = append(args, "--heal")
			}
			run := startGrifork(t, dir, args...)
			waitProcs(t, f, victim, "sleep 300", 1, run)
			procs, err := f.Procs(victim)
			if err != nil {
				t.Fatal(err)
			}
			killed := 0
			for _, p := range procs {
				if strings.HasPrefix(p.Cmdline, griforkTmp+"/grifork-") && strings.Contains(p.Cmdline, " --on-remote ") {
					if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					killed++
				}
			}
			if killed != 1 {
				t.Fatalf("%d griforks on %s, want 1: %v", killed, victim, procs)
			}
			select {
			case <-run.exited:
			case <-time.After(30 * time.Second):
				t.Fatalf("grifork still running 30s after the kill:\n%s", run.out.String())
			}
			out := run.out.String()
			t.Logf("output:\n%s", out)
			if code := run.cmd.ProcessState.ExitCode(); code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			died := " grifork: grifork on " + victim + ": remote grifork exited with status 137"
			lines := []string{"12 ok, 1 failed, 0 skipped", "\n  " + victim + " (0.0-1.0-2.0)" + died}
			if !heal {
				// hosts[12]'s copy was running: it is failed, not skipped.
				lines = []string{"11 ok, 2 failed, 0 skipped", "\n  " + victim + " (0.0-1.0-2.0)" + died,
					"\n  " + child + " (0.0-1.0-2.0-3.0) remote: its source " + victim + " died mid-copy: grifork on " + victim + ": "}
			}
			for _, s := range lines {
				if !strings.Contains(out, s) {
					t.Errorf("summary lacks %q:\n%s", s, out)
				}
			}
			if heal {
				reattached(t, out, child, hosts[0], victim)
				checkAll(t, f, hosts, want) // the killed node had its copy before it forked
			} else {
				checkAll(t, f, except(hosts, child), want)
			}
			noneLeft(t, hosts[:4]...)
		})
	}
}
