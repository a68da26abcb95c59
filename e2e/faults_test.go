package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/fleet"
)

// TestFaults injects faults into runs on a 7-host fleet, branches 2, and checks
// what the README's "Failure behaviour" table promises: the faulty host named
// with its cause, the others done, the exit code, a bounded run time and no
// process left. The steps share one fleet and run in order.
func TestFaults(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f := fleet.StartT(t, fleet.Options{Hosts: 7})
	hosts := f.Hosts()
	tree := hostTree(t, hosts, 2)
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	makeApp(t, app)

	// status gives each host's "status: error" from a --report file.
	status := func(t *testing.T, report string) map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, r := range readReport(t, report).Results {
			out[r.Host] = r.Status
			if r.Err != "" {
				out[r.Host] += ": " + r.Err
			}
		}
		return out
	}

	t.Run("command timeout", func(t *testing.T) {
		slow := tree.Root.Children[1].Host.Name
		gf := fleetFile(t, dir, f, hosts, 2, fmt.Sprintf(`
local function edge(src, dst)
  if dst == %q then ssh(dst, "sleep", { "600" }) end
end
locally(edge)
remote(edge)
`, slow))
		report := filepath.Join(dir, "timeout.json")
		start := time.Now()
		r := runGrifork(t, dir, "-f", gf, "--command-timeout", "2s", "--report", report)
		took := time.Since(start)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1; output:\n%s%s", r.code, r.stdout, r.stderr)
		}
		if took > 20*time.Second {
			t.Errorf("run took %s, want a few seconds", took)
		}
		got := status(t, report)
		// The Griforkfile's line (fleetFile writes 4 first), the helper, the host,
		// the command and the cause.
		if want := ".lua:6: ssh: " + slow + ": command sleep 600: timed out after 2s"; !strings.HasPrefix(got[slow], "failed: ") ||
			!strings.HasSuffix(got[slow], want) {
			t.Errorf("%s: %q, want failed with %q", slow, got[slow], want)
		}
		// Its children are skipped, every other host is done.
		for _, h := range hosts {
			switch n := findHost(tree, h); {
			case h == slow:
			case n.Parent.Host.Name == slow && !strings.HasPrefix(got[h], "skipped"):
				t.Errorf("%s: %q, want skipped", h, got[h])
			case n.Parent.Host.Name != slow && got[h] != "ok":
				t.Errorf("%s: %q, want ok", h, got[h])
			}
		}
		noLeftoversOf(t, f, 5*time.Second, "sleep 600")
	})

	t.Run("frozen grifork", func(t *testing.T) {
		// The grifork on frozen is stopped (SIGSTOP) while it runs prepare_remote:
		// it says nothing more, and its parent, the root, must not wait forever.
		frozen := tree.Root.Children[1]
		gf := fleetFile(t, dir, f, hosts, 2, griforkBody(app, fmt.Sprintf(`
prepare_remote(function(src)
  if src == %q then sh("sleep", { "7" }) end
end)
`, frozen.Host.Name)))
		report := filepath.Join(dir, "frozen.json")
		start := time.Now()
		run := startGrifork(t, dir, "-f", gf, "--report", report)
		waitProcs(t, f, frozen.Host.Name, "sleep 7", 1, run)
		pid := 0
		procs, err := f.Procs(frozen.Host.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range procs {
			if strings.HasPrefix(p.Cmdline, griforkTmp+"/grifork-") && strings.Contains(p.Cmdline, "--on-remote") {
				pid = p.PID
			}
		}
		if pid == 0 {
			t.Fatalf("no grifork running on %s: %v", frozen.Host.Name, procs)
		}
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
		frozeAt := time.Now()
		select {
		case <-run.exited:
		case <-time.After(75 * time.Second):
			t.Fatalf("a frozen node hung the run; output:\n%s", run.out.String())
		}
		// Bounded by the 30 s heartbeat timeout from the freeze, with room for a
		// loaded machine (the rest of the tree still has to finish).
		took := time.Since(frozeAt)
		t.Logf("run took %s, %s after the freeze; output:\n%s", time.Since(start).Round(time.Millisecond), took.Round(time.Millisecond), run.out.String())
		if took > 55*time.Second {
			t.Errorf("run ended %s after the freeze, want about the 30 s heartbeat timeout", took)
		}
		if code := run.cmd.ProcessState.ExitCode(); code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		got := status(t, report)
		for _, h := range hosts {
			want := "ok"
			switch n := findHost(tree, h); {
			case n == frozen:
				want = "failed: no heartbeat from grifork on " + h + " for 30s"
			case n.Parent == frozen:
				want = "skipped: parent " + frozen.Host.Name + " failed"
			}
			if got[h] != want {
				t.Errorf("%s: %q, want %q", h, got[h], want)
			}
		}
		if strings.Contains(run.out.String(), `"heartbeat"`) {
			t.Error("a heartbeat reached the console")
		}
		// The stopped grifork was killed with its session.
		noLeftovers(t, f, 10*time.Second)
	})
}

func findHost(tr *core.Tree, host string) *core.Node {
	var found *core.Node
	tr.Walk(func(n *core.Node) {
		if n.Host.Name == host {
			found = n
		}
	})
	return found
}

// noLeftoversOf is noLeftovers, and no process whose command line contains
// what on any host either.
func noLeftoversOf(t *testing.T, f *fleet.Fleet, within time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, h := range f.Hosts() {
		for {
			procs, err := f.Procs(h)
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, p := range procs {
				if strings.Contains(p.Cmdline, what) {
					left = append(left, fmt.Sprintf("%d %s", p.PID, p.Cmdline))
				}
			}
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still running: %v", h, left)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	noLeftovers(t, f, within)
}
