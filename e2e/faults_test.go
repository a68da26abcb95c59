package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/internal/testkit/fleet"
)

// faultSecret is the ssh { password } of every fault run: it must never reach
// a host's disk.
const faultSecret = "e2e-fault-secret-7f3a9c"

// faultHosts is the fleet of each mode, branches 2: the root feeds h0 and h1,
// h0 feeds h2 and h3, h1 feeds h4 and h5, h2 feeds h6. A fault's host is named
// by its index.
const faultHosts = 7

// faultEnv is one mode's fleet, shared by its faults in turn.
type faultEnv struct {
	mode  string // "standalone" or "grifork"
	f     *fleet.Fleet
	hosts []string
	dir   string
	app   string
	want  string        // the manifest every copy must have
	base  time.Duration // how long the run without a fault took
}

// h is the address of host i.
func (e *faultEnv) h(i int) string { return e.hosts[i] }

// file writes a Griforkfile that copies the app down the tree, with the
// secret in its ssh settings; before(src, dst) runs first in every edge block
// (the copy is left out if it returns true), and extra is appended.
func (e *faultEnv) file(t *testing.T, before, extra string) string {
	t.Helper()
	copyRemote := `rsync_remote("/srv/app/")`
	head := ""
	if e.mode == "grifork" {
		copyRemote = `rsync("/srv/app/")`
		// A short heartbeat timeout keeps the frozen node's run short.
		head = fmt.Sprintf("mode \"grifork\"\ngrifork { tmpdir = %q, chdir = \"/tmp\", heartbeat_timeout = 6 }\n", griforkTmp)
	}
	src := fmt.Sprintf(`%sbranches(2)
hosts %s
ssh { user = "root", keys = { %q }, known_hosts = %q, timeout = 8, password = %q }
rsync { "-a", "--delete" } -- no -z: the data is random, compressing it only costs CPU
local SRC = %q
local function before(src, dst)
%s
end
locally(function(src, dst)
  if before(src, dst) then return end
  rsync(SRC .. "/", "/srv/app/")
end)
remote(function(src, dst)
  if before(src, dst) then return end
  %s
end)
%s
`, head, luaList(e.hosts), e.f.KeyFile(), e.f.KnownHostsFile(), faultSecret, e.app, before, copyRemote, extra)
	path := filepath.Join(e.dir, fmt.Sprintf("Griforkfile-%d.lua", fileSeq.Add(1)))
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fault is one fault injected into a run that copies the app to every host.
type fault struct {
	name  string
	modes string // "standalone", "grifork" or "" for both
	// before is Lua run first in every edge block; extra is appended to the file.
	before, extra string
	args          []string // more grifork arguments
	nocopy        bool     // before leaves the copy out
	// inject breaks something before the run and registers its repair with
	// t.Cleanup; nil for none.
	inject func(t *testing.T, e *faultEnv)
	// during hits the running run: it waits for the right moment (a copy seen
	// running), never a blind sleep. nil for none.
	during func(t *testing.T, e *faultEnv, run *background)
	code   int // the exit code; -1 killed by a signal (no report then)
	// wait is how much longer than a run without a fault the fault makes it
	// by design (a timeout that must pass).
	wait time.Duration
	// want is each host's outcome by index; hosts it lacks are ok.
	want func(e *faultEnv) map[int]outcome
}

// outcome is the status a host must end with, and what its error must contain:
// one of causes, when there are several (what rsync says is not always the
// same), or anything when there are none.
type outcome struct {
	status string
	causes []string
}

func failed(causes ...string) outcome  { return outcome{status: "failed", causes: causes} }
func skipped(causes ...string) outcome { return outcome{status: "skipped", causes: causes} }

// cause is the first of o's causes that got (a report's "status: error") holds, or
// o's first cause if it holds none ("" if o has none).
func (o outcome) cause(got string) string {
	for _, c := range o.causes {
		if strings.Contains(got, c) {
			return c
		}
	}
	if len(o.causes) == 0 {
		return ""
	}
	return o.causes[0]
}

func (o outcome) String() string {
	if len(o.causes) == 0 {
		return o.status
	}
	return o.status + ": " + strings.Join(o.causes, " or ")
}

// TestFaults injects the faults of issue 10 into runs of both modes on a
// 7-host fleet per mode (branches 2) and checks what docs/failures.md
// promises for each: every other host byte-identical to the
// source, the faulty host named in the summary with its cause, the exit code, a
// bounded run time, no process left on any host nor on the root, no run
// directory or secret on any host's disk. A mode's faults share its fleet and
// run in order, each repaired after it.
func TestFaults(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	for _, mode := range []string{"standalone", "grifork"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			// 32 Mbit/s links: a 3 MiB copy takes about a second, long enough to
			// be hit while it runs.
			e := &faultEnv{mode: mode, f: fleet.StartT(t, fleet.Options{Hosts: faultHosts, RateMbit: 32}), dir: t.TempDir()}
			e.hosts = e.f.Hosts()
			e.app = filepath.Join(e.dir, "app")
			makeApp(t, e.app)
			big := make([]byte, 3<<20)
			rand.Read(big)
			if err := os.WriteFile(filepath.Join(e.app, "big.bin"), big, 0o644); err != nil {
				t.Fatal(err)
			}
			e.want = localManifest(t, e.app)
			for _, ft := range faults() {
				if ft.modes != "" && ft.modes != mode {
					continue
				}
				t.Run(ft.name, func(t *testing.T) { runFault(t, e, ft) })
			}
		})
	}
}

func faults() []fault {
	// the summary's and report's words for the usual outcomes
	skippedUnder := func(e *faultEnv, i int) outcome { return skipped("parent " + e.h(i) + " failed") }
	return []fault{{
		// The first run: it ships grifork mode's binary to the nodes, and its
		// time bounds the others'.
		name: "no fault",
		code: 0,
		want: func(e *faultEnv) map[int]outcome { return nil },
	}, {
		name: "sshd killed mid-copy, generation 1",
		during: func(t *testing.T, e *faultEnv, run *background) {
			waitCopy(t, e, run, 1)
			stopHost(t, e, 1)
		},
		code: 1,
		want: func(e *faultEnv) map[int]outcome {
			return map[int]outcome{1: failed(e.h(1)), 4: skippedUnder(e, 1), 5: skippedUnder(e, 1)}
		},
	}, {
		name: "sshd killed mid-copy, generation 2",
		during: func(t *testing.T, e *faultEnv, run *background) {
			waitCopy(t, e, run, 2)
			stopHost(t, e, 2)
		},
		code: 1,
		want: func(e *faultEnv) map[int]outcome {
			return map[int]outcome{2: failed(e.h(2)), 6: skippedUnder(e, 2)}
		},
	}, {
		// Standalone: the rsync that h0 runs toward h2 (rsync_remote) dies.
		name:  "relay rsync killed mid-copy",
		modes: "standalone",
		during: func(t *testing.T, e *faultEnv, run *background) {
			waitCopy(t, e, run, 2)
			killProcs(t, e, 0, syscall.SIGKILL, func(p fleet.Proc) bool {
				return strings.HasPrefix(p.Cmdline, "rsync ") && !strings.Contains(p.Cmdline, "--server") &&
					strings.Contains(p.Cmdline, e.h(2)+":")
			})
		},
		code: 1,
		want: func(e *faultEnv) map[int]outcome {
			return map[int]outcome{2: failed("exit status 137: Killed"), 6: skippedUnder(e, 2)}
		},
	}, {
		// Grifork mode: h0's grifork dies while it copies to h2 and h3.
		name:  "relay grifork killed mid-copy",
		modes: "grifork",
		during: func(t *testing.T, e *faultEnv, run *background) {
			var held []int
			holdCopies(t, e, run, &held, 2, 3)
			killProcs(t, e, 0, syscall.SIGKILL, isFork)
			release(held)
		},
		code: 1,
		want: func(e *faultEnv) map[int]outcome {
			// Their copies ran when their source died: failed, not skipped.
			return map[int]outcome{
				0: failed("grifork on " + e.h(0) + ": remote grifork exited with status 137: Killed"),
				2: failed(), 3: failed(), 6: skipped(),
			}
		},
	}, {
		name: "silent TCP listener instead of sshd",
		inject: func(t *testing.T, e *faultEnv) {
			stopHost(t, e, 3)
			l, err := e.f.ListenSilent(e.h(3))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		},
		wait: 8 * time.Second, // the SSH timeout
		code: 1,
		want: func(e *faultEnv) map[int]outcome {
			return map[int]outcome{3: failed(e.h(3))}
		},
	}, {
		// h0's grifork is stopped while it runs prepare_remote: it says nothing
		// more, and the root must not wait for it beyond heartbeat_timeout.
		name:  "node grifork stopped (SIGSTOP)",
		modes: "grifork",
		extra: `prepare_remote(function(src) if src == HOST0 then sh("sleep", { "30" }) end end)`,
		during: func(t *testing.T, e *faultEnv, run *background) {
			waitProcs(t, e.f, e.h(0), "sleep 30", 1, run)
			killProcs(t, e, 0, syscall.SIGSTOP, isFork)
		},
		code: 1,
		wait: 6 * time.Second, // heartbeat_timeout
		want: func(e *faultEnv) map[int]outcome {
			return map[int]outcome{
				0: failed("no heartbeat from grifork on " + e.h(0) + " for 6s"),
				2: skippedUnder(e, 0), 3: skippedUnder(e, 0), 6: skippedUnder(e, 0),
			}
		},
	}, {
		// No copy: on a loaded machine a copy can outlast the timeout too.
		name:   "command timeout",
		before: `if dst == HOST1 then ssh(dst, "sleep", { "600" }) end return true`,
		nocopy: true,
		wait:   8 * time.Second, // 3 s, and 5 s from TERM to KILL
		args:   []string{"--command-timeout", "3s"},
		code:   1,
		want: func(e *faultEnv) map[int]outcome {
			return map[int]outcome{
				1: failed(": ssh: " + e.h(1) + ": command sleep 600: timed out after 3s"),
				4: skippedUnder(e, 1), 5: skippedUnder(e, 1),
			}
		},
	}, {
		name: "full /srv",
		inject: func(t *testing.T, e *faultEnv) {
			tmpfs(t, e, 1, "/srv", 1<<20)
		},
		code: 1,
		want: func(e *faultEnv) map[int]outcome {
			// rsync's receiver names the cause, but its client does not
			// always pass it on before it exits 11 ("error in file I/O").
			return map[int]outcome{1: failed("No space left on device", "exit status 11"), 4: skippedUnder(e, 1), 5: skippedUnder(e, 1)}
		},
	}, {
		// Standalone mode writes nothing to a host's /tmp; grifork mode ships
		// its binary there.
		name:   "full /tmp",
		modes:  "standalone",
		inject: func(t *testing.T, e *faultEnv) { tmpfs(t, e, 0, "/tmp", 64<<10) },
		code:   0,
		want:   func(e *faultEnv) map[int]outcome { return nil },
	}, {
		name:   "full /tmp",
		modes:  "grifork",
		inject: func(t *testing.T, e *faultEnv) { tmpfs(t, e, 0, "/tmp", 64<<10) },
		code:   1,
		want: func(e *faultEnv) map[int]outcome {
			return map[int]outcome{0: failed("No space left on device"), 2: skippedUnder(e, 0), 3: skippedUnder(e, 0), 6: skippedUnder(e, 0)}
		},
	}, {
		name: "changed host key",
		inject: func(t *testing.T, e *faultEnv) {
			if err := e.f.RegenHostKey(e.h(5)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { trust(t, e, 5) })
		},
		code: 1,
		want: func(e *faultEnv) map[int]outcome {
			// h1 copies to h5 with rsync: in standalone mode run on h1
			// (rsync_remote) with OpenSSH, in grifork mode over grifork's relay.
			return map[int]outcome{5: failed("REMOTE HOST IDENTIFICATION HAS CHANGED", "HOST KEY CHANGED")}
		},
	}, {
		// ssh() dials with grifork's own SSH client, before rsync's OpenSSH.
		name:   "unknown host key",
		before: `if dst == HOST1 then ssh(dst, "true") end`,
		inject: func(t *testing.T, e *faultEnv) {
			if err := e.f.ForgetHostKey(e.h(1)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { trust(t, e, 1) })
		},
		code: 1,
		want: func(e *faultEnv) map[int]outcome {
			return map[int]outcome{1: failed("unknown host key"), 4: skippedUnder(e, 1), 5: skippedUnder(e, 1)}
		},
	},
		rootSignal(syscall.SIGINT, 130, "interrupt signal received"),
		rootSignal(syscall.SIGTERM, 130, "terminated signal received"),
		rootSignal(syscall.SIGKILL, -1, ""),
	}
}

// rootSignal is the fault of sig sent to the root grifork while generation 2
// runs: h0 and h1 are done, h2 and h3 copying (held until the signal: under
// load h1's children can start long after h0's are done), h4 and h5 in a
// remote command, h6 not started.
func rootSignal(sig syscall.Signal, code int, cause string) fault {
	return fault{
		name:   "root " + strings.ToUpper(sig.String()),
		before: `if src == HOST1 then ssh(dst, "sleep", { "600" }) end`,
		during: func(t *testing.T, e *faultEnv, run *background) {
			var held []int
			holdCopies(t, e, run, &held, 2, 3)
			waitProcs(t, e.f, e.h(4), "sleep 600", 1, run)
			waitProcs(t, e.f, e.h(5), "sleep 600", 1, run)
			if err := run.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			release(held)
		},
		code: code,
		want: func(e *faultEnv) map[int]outcome {
			stopped := failed(cause)
			return map[int]outcome{2: stopped, 3: stopped, 4: stopped, 5: stopped, 6: skipped("cancelled")}
		},
	}
}

// runFault runs one fault on e's fleet and checks its outcome.
func runFault(t *testing.T, e *faultEnv, ft fault) {
	// Every host starts without the app, so that every copy has all to send.
	forEachHost(t, e.hosts, func(h string) error {
		_, err := e.f.Exec(context.Background(), h, "rm", "-rf", "/srv/app")
		return err
	})
	if ft.inject != nil {
		ft.inject(t, e)
	}
	hostVars := strings.NewReplacer("HOST0", strconv.Quote(e.h(0)), "HOST1", strconv.Quote(e.h(1)))
	gf := e.file(t, hostVars.Replace(ft.before), hostVars.Replace(ft.extra))
	report := filepath.Join(e.dir, fmt.Sprintf("report-%d.json", fileSeq.Add(1)))
	start := time.Now()
	run := startGrifork(t, e.dir, append([]string{"-f", gf, "--report", report}, ft.args...)...)
	rootProcs := watchDescendants(run)
	if ft.during != nil {
		ft.during(t, e, run)
	}
	select {
	case <-run.exited:
	case <-time.After(5 * time.Minute):
		t.Fatalf("still running after %s; output:\n%s", time.Since(start), run.out.String())
	}
	took := time.Since(start)
	out := run.out.String()
	t.Logf("%s: %v after %s; output:\n%s", ft.name, run.cmd.ProcessState, took.Round(time.Millisecond), out)

	if ft.code < 0 {
		if ws, ok := run.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Errorf("exit %v, want killed by a signal", run.cmd.ProcessState)
		}
	} else if code := run.cmd.ProcessState.ExitCode(); code != ft.code {
		t.Errorf("exit code %d, want %d", code, ft.code)
	}
	// The bound scales with the machine's load, which varies fourfold within
	// minutes on a shared 2-core machine: four times the run without a fault,
	// plus what the fault must wait for. A hang (no timeout) runs for hours.
	if e.base == 0 {
		e.base = took
	} else if bound := 4*e.base + ft.wait + 20*time.Second; took > bound {
		t.Errorf("run took %s, want at most %s (four times the %s of the run without a fault, plus %s)",
			took.Round(time.Millisecond), bound.Round(time.Millisecond), e.base.Round(time.Millisecond), ft.wait)
	}
	if ft.code >= 0 {
		checkOutcome(t, e, report, out, ft.want(e), ft.nocopy)
	}
	noLeftovers(t, e.f, 15*time.Second)
	noRootLeftovers(t, <-rootProcs, 5*time.Second)
	noTraces(t, e)
}

// checkOutcome checks every host's status in the report against want, the
// summary's line for every failed host, and the copy of every ok host.
func checkOutcome(t *testing.T, e *faultEnv, report, out string, want map[int]outcome, nocopy bool) {
	t.Helper()
	got := map[string]string{}
	for _, r := range readReport(t, report).Results {
		got[r.Host] = r.Status
		if r.Err != "" {
			got[r.Host] += ": " + r.Err
		}
	}
	var ok []string
	for i, h := range e.hosts {
		w, set := want[i]
		if !set {
			w = outcome{status: "ok"}
		}
		part := w.cause(got[h])
		if s, _, _ := strings.Cut(got[h], ": "); s != w.status || !strings.Contains(got[h], part) {
			t.Errorf("h%d %s: %q, want %v", i, h, got[h], w)
		}
		switch w.status {
		case "ok":
			ok = append(ok, h)
		case "failed":
			// The summary names it with its cause.
			if !summaryLine(out, "  "+h+" (", part) {
				t.Errorf("the summary has no line for h%d %s with %q", i, h, part)
			}
			// What a failed copy leaves, for docs/failures.md.
			left, _ := e.f.Exec(context.Background(), h, "sh", "-c", "ls -A /srv/app 2>&1 | head -5")
			t.Logf("h%d %s holds in /srv/app: %q", i, h, left)
		}
	}
	if !nocopy {
		checkAll(t, e.f, ok, e.want)
	}
}

// noTraces fails the test if a host's disk holds a run directory or the
// secret, looked for inside the host (a tmpfs there hides what is beneath).
func noTraces(t *testing.T, e *faultEnv) {
	t.Helper()
	forEachHost(t, e.hosts, func(h string) error {
		out, err := e.f.Exec(context.Background(), h, "sh", "-c",
			`find /tmp /srv /root -path '*/grifork-*/run-*' -prune -print; grep -rlF -e "$1" /tmp /srv /root; true`, "sh", faultSecret)
		if err != nil {
			return err
		}
		if len(out) > 0 {
			return fmt.Errorf("left on disk (a run directory, or a file with the secret):\n%s", out)
		}
		return nil
	})
}

// copying reports whether host i receives the app: rsync's temporary file of
// big.bin is there and holds 64 KiB. (A look into one directory: scanning
// processes takes longer than a copy on a loaded machine.)
func copying(t *testing.T, e *faultEnv, i int) bool {
	t.Helper()
	dir, err := e.f.HostPath(e.h(i), "/srv/app")
	if err != nil {
		t.Fatal(err)
	}
	tmp, _ := filepath.Glob(filepath.Join(dir, ".big.bin.*"))
	for _, p := range tmp {
		if fi, err := os.Stat(p); err == nil && fi.Size() >= 64<<10 {
			return true
		}
	}
	return false
}

// waitCopy waits until host i receives the app.
func waitCopy(t *testing.T, e *faultEnv, run *background, i int) {
	t.Helper()
	holdCopies(t, e, run, nil, i)
}

// holdCopies waits until each host of idx receives the app and, if held is not
// nil, stops its receiver (SIGSTOP) at once, so that the copies still run
// together when the last one starts (on a loaded machine one can end before
// another starts). held gets the receivers to continue (SIGCONT).
func holdCopies(t *testing.T, e *faultEnv, run *background, held *[]int, idx ...int) {
	t.Helper()
	receiver := func(p fleet.Proc) bool { return strings.HasPrefix(p.Cmdline, "rsync --server") }
	deadline := time.Now().Add(time.Minute)
	for left := idx; len(left) > 0; {
		var still []int
		for _, i := range left {
			switch {
			case !copying(t, e, i):
				still = append(still, i)
			case held != nil:
				*held = append(*held, killProcs(t, e, i, syscall.SIGSTOP, receiver)...)
			}
		}
		if left = still; len(left) == 0 {
			return
		}
		select {
		case <-run.exited:
			t.Fatalf("the run ended before h%v received the app:\n%s", left, run.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("h%v never received the app; output:\n%s", left, run.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// release lets held receivers continue.
func release(pids []int) {
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGCONT)
	}
}

// isFork matches a node's grifork.
func isFork(p fleet.Proc) bool {
	return strings.HasPrefix(p.Cmdline, griforkTmp+"/grifork-") && strings.Contains(p.Cmdline, "--on-remote")
}

// killProcs sends sig to the processes of host i that match, and fails if
// there is none. A SIGSTOP is undone at the end of the test.
func killProcs(t *testing.T, e *faultEnv, i int, sig syscall.Signal, match func(fleet.Proc) bool) (pids []int) {
	t.Helper()
	procs, err := e.f.Procs(e.h(i))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if !match(p) {
			continue
		}
		if err := syscall.Kill(p.PID, sig); err != nil {
			t.Fatal(err)
		}
		if sig == syscall.SIGSTOP {
			t.Cleanup(func() { syscall.Kill(p.PID, syscall.SIGCONT) })
		}
		t.Logf("h%d: %s to %d %s", i, sig, p.PID, p.Cmdline)
		pids = append(pids, p.PID)
	}
	if len(pids) == 0 {
		t.Fatalf("h%d %s: nothing to send %s to among %v", i, e.h(i), sig, procs)
	}
	return pids
}

// stopHost kills every process of host i, sshd first, and starts its sshd
// again at the end of the test.
func stopHost(t *testing.T, e *faultEnv, i int) {
	t.Helper()
	if err := e.f.StopHost(e.h(i)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.f.StartHost(context.Background(), e.h(i)); err != nil {
			t.Error(err)
		}
	})
}

// tmpfs puts a tmpfs of size bytes on dir of host i until the end of the test.
func tmpfs(t *testing.T, e *faultEnv, i int, dir string, size int64) {
	t.Helper()
	unmount, err := e.f.MountTmpfs(e.h(i), dir, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unmount(); err != nil {
			t.Error(err)
		}
	})
}

// trust puts host i's current key into the fleet's known_hosts.
func trust(t *testing.T, e *faultEnv, i int) {
	if err := e.f.TrustHostKey(e.h(i)); err != nil {
		t.Error(err)
	}
}

// rootProc is a process the root grifork started, directly or not.
type rootProc struct {
	pid     int
	cmdline string
}

// watchDescendants collects every process that runs below the root grifork
// until it exits (after a SIGKILL they are no longer its descendants).
func watchDescendants(run *background) <-chan []rootProc {
	ch := make(chan []rootProc, 1)
	go func() {
		seen := map[rootProc]bool{}
		var all []rootProc
		for {
			for _, p := range descendants(run.cmd.Process.Pid) {
				if !seen[p] {
					seen[p] = true
					all = append(all, p)
				}
			}
			select {
			case <-run.exited:
				ch <- all
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return ch
}

// descendants lists the processes below pid on this machine.
func descendants(pid int) []rootProc {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		p, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + en.Name() + "/stat")
		if err != nil {
			continue
		}
		// The fields after the command's closing parenthesis: state, ppid.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []rootProc
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			out = append(out, rootProc{c, cmdline(c)})
			walk(c)
		}
	}
	walk(pid)
	return out
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// noRootLeftovers waits up to within until none of procs runs any more (a PID
// taken by another command since does not count).
func noRootLeftovers(t *testing.T, procs []rootProc, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var left []string
		for _, p := range procs {
			if c := cmdline(p.pid); c != "" && c == p.cmdline {
				left = append(left, fmt.Sprintf("%d %s", p.pid, c))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left running on the root: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
