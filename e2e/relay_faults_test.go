package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/internal/testkit/fleet"
	"github.com/grifork/grifork/node"
)

// TestBroadcastRelayFaults reproduces the broadcast faults of issue 17 on a
// chain of 5 real hosts (branches 1: h0 -> h1 -> h2 -> h3 -> h4) whose links
// carry 32 Mbit/s, so a 12 MiB stream takes about 3 s: a relay frozen
// mid-stream (SIGSTOP by PID), with and without --heal; a second run into the
// same place while the first streams; Ctrl-C while a host commits. The steps
// share the fleet and run in order.
func TestBroadcastRelayFaults(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f := fleet.StartT(t, fleet.Options{Hosts: 5, RateMbit: 32})
	hosts := f.Hosts()
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	makeBroadcastApp(t, app, 12)
	os.RemoveAll(filepath.Join(app, ".git"))
	gf := func(from string) string {
		return fleetFile(t, dir, f, hosts, 3, fmt.Sprintf(`broadcast { from = %q, to = "/srv/app/", branches = 1 }`, from+"/"))
	}
	// stamp makes the source new, so that what each host holds shows which run it got.
	stamp := func(t *testing.T, dir string) string {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "stamp"), []byte(t.Name()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return bcLocalManifest(t, dir)
	}
	const timeout = 5 * time.Second // fleetFile's ssh { timeout }
	wait := func(t *testing.T, run *background, within time.Duration) (int, time.Duration) {
		t.Helper()
		start := time.Now()
		select {
		case <-run.exited:
		case <-time.After(within):
			t.Fatalf("still running after %v:\n%s", within, run.out.String())
		}
		t.Logf("output:\n%s", run.out.String())
		return run.cmd.ProcessState.ExitCode(), time.Since(start)
	}

	// The relay that stops making progress is the one failed, with its cause;
	// its parent is ok; the run ends within the timeout and a few seconds;
	// the frozen relay is gone when the root is.
	frozen := func(t *testing.T, heal bool) {
		want := stamp(t, app)
		args := []string{"-f", gf(app)}
		if heal {
			args = append(args, "--heal")
		}
		run := startGrifork(t, dir, args...)
		pid := waitRelay(t, f, hosts[2], 2<<20, run)
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL); syscall.Kill(pid, syscall.SIGCONT) })
		code, took := wait(t, run, time.Minute)
		t.Logf("exit %d %v after the freeze", code, took.Round(time.Millisecond))
		out := run.out.String()
		// With --heal the root sends the stream again to the 2 hosts below (3 s).
		limit := timeout + 5*time.Second
		if heal {
			limit += 5 * time.Second
		}
		if code != 1 || took > limit {
			t.Errorf("exit %d %v after the freeze, want 1 within %v", code, took.Round(time.Millisecond), limit)
		}
		if !summaryLine(out, "  "+hosts[2]+" (", "broadcast: no progress for "+timeout.String()) {
			t.Errorf("the frozen %s is not failed for making no progress", hosts[2])
		}
		if strings.Contains(out, "  "+hosts[1]+" (") {
			t.Errorf("%s, the parent of the frozen relay, is failed", hosts[1])
		}
		if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
			t.Errorf("the frozen relay (pid %d) outlived the root: %v", pid, err)
		}
		if heal {
			if !strings.Contains(out, "4 ok, 1 failed") {
				t.Errorf("want 4 ok and the frozen host failed")
			}
			bcCheck(t, f, except(hosts, hosts[2]), want)
		} else {
			for _, h := range hosts[3:] {
				if !summaryLine(out, "  "+h+" (", "its source "+hosts[2]+" failed mid-stream: no progress") {
					t.Errorf("%s below the frozen relay does not name it as its reason", h)
				}
			}
			bcCheck(t, f, hosts[:2], want)
		}
		noLeftovers(t, f, 10*time.Second)
	}
	t.Run("relay frozen mid-stream", func(t *testing.T) { frozen(t, false) })
	t.Run("relay frozen mid-stream, healed", func(t *testing.T) { frozen(t, true) })

	// A second run into the same place, while the first streams, is refused
	// on the hosts the first holds, in one line that names it; the first ends
	// ok; no host holds a mix. (A host the first has finished with may take
	// the second run whole: in a chain the first hosts finish first.)
	t.Run("two runs into the same place", func(t *testing.T) {
		first := filepath.Join(dir, "first")
		makeBroadcastApp(t, first, 32) // 8 s on these links: the second run starts well within
		os.RemoveAll(filepath.Join(first, ".git"))
		wantFirst := stamp(t, first)
		second := filepath.Join(dir, "second")
		makeBroadcastApp(t, second, 1)
		os.RemoveAll(filepath.Join(second, ".git"))
		wantSecond := stamp(t, second)
		run := startGrifork(t, dir, "-f", gf(first))
		waitRelay(t, f, hosts[4], 1<<20, run)
		r := runGrifork(t, dir, "-f", gf(second))
		t.Logf("second run:\n%s%s", r.stdout, r.stderr)
		if code, _ := wait(t, run, time.Minute); code != 0 {
			t.Errorf("the first run: exit %d, want 0", code)
		}
		if r.code != 1 {
			t.Errorf("the second run: exit %d, want 1", r.code)
		}
		got := bcManifests(t, f, hosts)
		for _, h := range hosts {
			refused := summaryLine(r.stdout, "  "+h+" (", "broadcast: /srv/app is taken by another grifork broadcast (relay pid ")
			switch {
			case refused && got[h] != wantFirst:
				t.Errorf("%s refused the second run but does not hold the first's content", h)
			case got[h] != wantFirst && got[h] != wantSecond:
				t.Errorf("%s holds a mix of the two runs", h)
			}
		}
		if !summaryLine(r.stdout, "  "+hosts[4]+" (", "broadcast: /srv/app is taken by another grifork broadcast (relay pid ") {
			t.Errorf("%s, which the first run was streaming to, did not refuse the second in one line naming the first", hosts[4])
		}
		if strings.Contains(r.stdout, "re-attached") {
			t.Error("re-attached lines without --heal")
		}
		noLeftovers(t, f, 10*time.Second)
	})

	// Ctrl-C while h1 commits (a test hook slows its commit down): the hosts
	// whose commit finished are ok, h1 is failed with what its commit did, and
	// the summary, the report and its broadcast results agree.
	t.Run("Ctrl-C during a commit", func(t *testing.T) {
		// Every host holds the old content first (the steps before may have
		// left some without it).
		if r := runGrifork(t, dir, "-f", gf(app)); r.code != 0 {
			t.Fatalf("the first run: exit %d", r.code)
		}
		before := bcManifests(t, f, hosts[1:2])[hosts[1]]
		stamp(t, app)
		big := make([]byte, 1<<20)
		rand.Read(big)
		if err := os.WriteFile(filepath.Join(app, "big.bin"), big, 0o644); err != nil {
			t.Fatal(err)
		}
		want := bcLocalManifest(t, app)
		report := filepath.Join(dir, "interrupted.json")
		run := &background{cmd: griforkCmd(t.Context(), dir, []string{node.SlowCommitEnv + "=" + hosts[1]}, "-f", gf(app), "--report", report), exited: make(chan struct{})}
		run.cmd.Stdout, run.cmd.Stderr = &run.out, &run.out
		if err := run.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { run.cmd.Wait(); close(run.exited) }()
		t.Cleanup(func() { run.cmd.Process.Kill(); <-run.exited })
		// The others have committed (they hold the new content, no staging
		// directory) while h1, upstream of them, is still committing: its
		// big.bin (early in the stream's order) has its new content already.
		others := except(hosts, hosts[1])
		h1big, err := f.HostPath(hosts[1], "/srv/app/big.bin")
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			b, _ := os.ReadFile(h1big)
			done := bytes.Equal(b, big)
			for h, m := range bcManifests(t, f, others) {
				app, _ := f.HostPath(h, "/srv/app")
				staged, _ := filepath.Glob(filepath.Join(app, ".grifork-stage-*"))
				done = done && m == want && len(staged) == 0
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the other hosts never committed:\n%s", run.out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		code, took := run.interrupt(t, 5*time.Second)
		if code != 130 || took > 3*time.Second {
			t.Errorf("exit %d after %v, want 130 within 2 s", code, took)
		}
		out := run.out.String()
		if !strings.Contains(out, "4 ok, 1 failed, 0 skipped") {
			t.Errorf("want the 4 committed hosts ok and %s failed", hosts[1])
		}
		if !summaryLine(out, "  "+hosts[1]+" (", "broadcast: commit stopped: interrupt signal received: ") ||
			!summaryLine(out, "  "+hosts[1]+" (", " paths under /srv/app have their new content (up to ") {
			t.Errorf("%s is not failed with what its commit did", hosts[1])
		}
		b, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Results []struct {
				Host, Status, Task string
				Broadcast          struct{ Status string }
			}
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		for _, x := range rep.Results {
			want := "ok"
			if x.Host == hosts[1] {
				want = "failed"
			}
			if x.Status != want || x.Broadcast.Status != want {
				t.Errorf("report: %s %s (broadcast %s), want %s in both", x.Host, x.Status, x.Broadcast.Status, want)
			}
		}
		bcCheck(t, f, others, want)
		if got := bcManifests(t, f, hosts[1:2])[hosts[1]]; got == want || got == before {
			t.Errorf("%s holds all the old or all the new content: its commit was not cut", hosts[1])
		}
		noLeftovers(t, f, 10*time.Second)
	})
}
