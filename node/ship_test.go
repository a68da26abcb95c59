package node

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
	"github.com/grifork/grifork/sshx"
)

// Deploy's errors name the step that failed and the line of stderr that says
// why, not the script that ran.
func TestDeployErrorsNameTheStep(t *testing.T) {
	fx := newForkFixture(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tmpdir string
		files  []File
		want   []string // in order
	}{
		{"tmpdir under a file", filepath.Join(file, "gf"), nil,
			[]string{"prepare tmpdir: exit status 1: ", "Not a directory"}},
		{"tar fails", fx.tmpdir, []File{{Name: "a/../../escape", Data: []byte("x")}},
			[]string{"tar into " + fx.tmpdir + "/run-", ": exit status 1: ", "Member name contains '..'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ship := fx.forker(func(o *ForkOptions) { o.Grifork.Tmpdir = tc.tmpdir }).ship
			_, err := ship.Deploy(context.Background(), fx.child.Host, tc.files)
			if err == nil {
				t.Fatal("Deploy: no error")
			}
			msg, rest := err.Error(), err.Error()
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("err = %q, want %q in order", msg, tc.want)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(msg, "umask") || strings.Contains(msg, "/bin/sh") {
				t.Errorf("err = %q quotes the script", msg)
			}
		})
	}
	// The failed tar removed its run directory.
	if runs, _ := filepath.Glob(filepath.Join(fx.tmpdir, "run-*")); len(runs) != 0 {
		t.Errorf("run directories left: %v", runs)
	}
}

// With the binary cached and no files (a broadcast relay), Deploy sends
// nothing and leaves an empty run directory.
func TestDeployNothingToSend(t *testing.T) {
	fx := newForkFixture(t)
	ship := fx.forker(nil).ship
	ctx := context.Background()
	d, err := ship.Deploy(ctx, fx.child.Host, []File{{Name: "f", Data: []byte("data")}})
	if err != nil {
		t.Fatal(err)
	}
	ship.Cleanup(ctx, fx.child.Host, d.Run)
	if d, err = ship.Deploy(ctx, fx.child.Host, nil); err != nil {
		t.Fatal(err)
	}
	defer ship.Cleanup(ctx, fx.child.Host, d.Run)
	if entries, err := os.ReadDir(d.Run); err != nil || len(entries) != 0 {
		t.Errorf("run directory %s: %v, holds %v; want it empty", d.Run, err, entries)
	}
	if d.Exe != fx.cached() || readFile(t, fx.cached()) != readFile(t, fx.script) {
		t.Errorf("exe %s, want the cached binary %s", d.Exe, fx.cached())
	}
}

// The deploy script offers a paced transfer of the binary only where dd reads
// exact pieces (iflag=fullblock); elsewhere the binary streams into tar.
func TestDeployScriptOffersPacedWhereDDCan(t *testing.T) {
	t.Parallel()
	stub := t.TempDir()
	if err := os.WriteFile(filepath.Join(stub, "dd"), []byte("#!/bin/sh\necho \"dd: unknown operand iflag\" >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		want bool
	}{
		{"dd with iflag=fullblock", os.Getenv("PATH"), true},
		{"dd without it", stub + ":" + os.Getenv("PATH"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &Shipper{grifork: core.GriforkConfig{Tmpdir: filepath.Join(t.TempDir(), "tmp")}}
			cmd := exec.Command("/bin/sh", "-c", s.deployScript(strings.Repeat("ab", 32), ""))
			cmd.Env = append(os.Environ(), "PATH="+tc.path)
			cmd.Stdin = strings.NewReader("abort\n") // the script removes its run directory
			out, _ := cmd.Output()
			if !strings.Contains(string(out), "\nrun=") {
				t.Fatalf("the script printed %q, without its run= line", out)
			}
			if got := strings.Contains(string(out), "\npaced=yes\n"); got != tc.want {
				t.Errorf("paced offered: %v, want %v (output %q)", got, tc.want, out)
			}
		})
	}
}

// Launch runs the command in the deploy session itself when nothing is to ship
// (one session on the host: sshd's own count), and in a session of its own
// after shipping the binary (TestDeploySeeded: after a relay seeded it).
func TestLaunch(t *testing.T) {
	paced, withSFTP := newForkFixture(t), newForkFixtureOpts(t, sshdtest.Opts{SFTP: true})
	bin := filepath.Join(t.TempDir(), "grifork")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nIFS= read -r line\necho \"$(pwd) $* $line\"\necho oops >&2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// In order: the cached cases find what the shipped ones left.
	for _, tc := range []struct {
		name     string
		fx       *forkFixture
		exec     string // grifork { exec }
		sessions int
	}{
		// Paced pieces acknowledged on the session's output: the command
		// needs a session of its own.
		{"not cached, shipped paced", paced, "", 2},
		// Over SFTP, the deploy session runs it once the binary is verified.
		{"not cached, shipped over SFTP", withSFTP, "", 1},
		{"cached", paced, "", 1},
		{"grifork { exec }", paced, bin, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := tc.fx
			ship := NewShipper(fx.client, core.GriforkConfig{Tmpdir: fx.tmpdir, Exec: tc.exec}, bin, nil)
			var out, errOut strings.Builder
			var started []Deployment
			before := fx.commandSessions(t)
			d, err := ship.Launch(context.Background(), fx.child.Host, []string{"--relay", "a b"}, nil,
				strings.NewReader("hello\n"), &out, &errOut, func(d Deployment) { started = append(started, d) })
			if err != nil {
				t.Fatalf("Launch: %v", err)
			}
			if got := fx.commandSessions(t) - before; got != tc.sessions {
				t.Errorf("%d sessions, want %d", got, tc.sessions)
			}
			defer ship.Cleanup(context.Background(), fx.child.Host, d.Run)
			if len(started) != 1 || started[0].Run != d.Run || !strings.HasPrefix(d.Run, fx.tmpdir+"/run-") {
				t.Fatalf("started %v, run %q", started, d.Run)
			}
			if want := d.Run + " --relay a b hello\n"; out.String() != want || errOut.String() != "oops\n" {
				t.Errorf("stdout %q, stderr %q; want %q, %q", out.String(), errOut.String(), want, "oops\n")
			}
			if tc.exec == "" {
				if fi, err := os.Stat(filepath.Join(fx.tmpdir, binaryName(mustHash(t, bin)))); err != nil || fi.Mode().Perm() != 0o755 {
					t.Errorf("cached binary: %v %v", fi, err)
				}
			}
		})
	}
}

// commandSessions is how many command sessions the fixture's sshd started.
func (fx *forkFixture) commandSessions(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fx.sshd.Log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "Starting session: command")
}

func mustHash(t *testing.T, path string) string {
	t.Helper()
	sum, err := (&shipBinary{path: path}).hash()
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// The binary travels over SFTP where the host's sshd offers it (one
// sftp-server writes it, no process per piece), and paced through the deploy
// session where it does not; either way it is verified and cached.
func TestDeployShipsOverSFTPWhereOffered(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sftp     bool
		wantLine string // in sshd's log
	}{
		{"sftp offered", true, "Starting session: subsystem 'sftp'"},
		{"sftp not offered", false, "subsystem request for sftp by user root failed, subsystem not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newForkFixtureOpts(t, sshdtest.Opts{SFTP: tc.sftp})
			ship := fx.forker(nil).ship
			ctx := context.Background()
			d, err := ship.Deploy(ctx, fx.child.Host, []File{{Name: "f", Data: []byte("data")}})
			if err != nil {
				t.Fatal(err)
			}
			defer ship.Cleanup(ctx, fx.child.Host, d.Run)
			if got, err := os.ReadFile(filepath.Join(d.Run, "f")); err != nil || string(got) != "data" {
				t.Errorf("run dir file: %v, %q", err, got)
			}
			if entries, _ := os.ReadDir(d.Run); len(entries) != 1 {
				t.Errorf("run directory holds %v, want only f", entries)
			}
			if d.Exe != fx.cached() || readFile(t, fx.cached()) != readFile(t, fx.script) {
				t.Errorf("exe %s, want the cached binary %s with the shipped content", d.Exe, fx.cached())
			}
			if fi, err := os.Stat(fx.cached()); err != nil || !fi.ModTime().Equal(binMtime(fx.sum)) {
				t.Errorf("cached binary: %v; want it modified at %v", err, binMtime(fx.sum))
			}
			if log := readFile(t, fx.sshd.Log); !strings.Contains(log, tc.wantLine) {
				t.Errorf("sshd's log lacks %q:\n%s", tc.wantLine, log)
			}
			if got := ship.sftpOK(fx.child.Host); got != tc.sftp {
				t.Errorf("sftpOK after the deploy: %v, want %v", got, tc.sftp)
			}
		})
	}
}

// The deploy script reports the tmpdir, its parent and the cached binary the
// same with stat -c as with ls -ldn where stat lacks -c; only stat gives the
// cached binary's size and time.
func TestDeployScriptReportsTheHost(t *testing.T) {
	t.Parallel()
	stub := t.TempDir()
	if err := os.WriteFile(filepath.Join(stub, "stat"), []byte("#!/bin/sh\necho \"stat: illegal option -- c\" >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("ab", 32)
	uid := strconv.Itoa(os.Getuid())
	out, err := exec.Command("uname", "-sm").Output()
	if err != nil {
		t.Fatal(err)
	}
	uname := strings.TrimSpace(string(out))
	for _, tc := range []struct {
		name   string
		path   string
		cached bool
	}{
		{"stat -c", os.Getenv("PATH"), true},
		{"ls -ldn", stub + ":" + os.Getenv("PATH"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			if err := os.Chmod(parent, 0o751); err != nil {
				t.Fatal(err)
			}
			tmp := filepath.Join(parent, "tmp")
			if err := os.Mkdir(tmp, 0o700); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(tmp, binaryName(sum))
			if err := os.WriteFile(bin, []byte("12345"), 0o755); err != nil {
				t.Fatal(err)
			}
			mtime := time.Unix(1234567890, 0)
			if err := os.Chtimes(bin, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			s := &Shipper{grifork: core.GriforkConfig{Tmpdir: tmp}}
			cmd := exec.Command("/bin/sh", "-c", s.deployScript(sum, ""))
			cmd.Env = append(os.Environ(), "PATH="+tc.path)
			cmd.Stdin = strings.NewReader("abort\n")
			out, _ := cmd.Output()
			kv := map[string]string{}
			for line := range strings.Lines(string(out)) {
				if k, v, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "="); ok {
					kv[k] = v
				}
			}
			for key, want := range map[string]string{"ls": "drwx------", "parent": "drwxr-x--x", "cachedls": "-rwxr-xr-x"} {
				if mode, owner, err := modeOwner(kv[key]); err != nil || mode != want || owner != uid {
					t.Errorf("%s=%q: mode %q, owner %q, %v; want %s of uid %s", key, kv[key], mode, owner, err, want, uid)
				}
			}
			if kv["dir"] != tmp || kv["uid"] != uid || kv["uname"] != uname || !strings.HasPrefix(kv["run"], tmp+"/run-") {
				t.Errorf("dir=%q uid=%q uname=%q run=%q", kv["dir"], kv["uid"], kv["uname"], kv["run"])
			}
			want := ""
			if tc.cached {
				want = "5 1234567890"
			}
			if kv["cached"] != want {
				t.Errorf("cached=%q, want %q", kv["cached"], want)
			}
		})
	}
}

// Launch has the seed put the compressed binary into the run directory
// of its session, where the host verifies and caches it; a seed that fails,
// or whose binary the host does not verify, makes the Shipper ship it
// itself; a host that holds it needs no seed.
func TestDeploySeeded(t *testing.T) {
	fx := newForkFixtureOpts(t, sshdtest.Opts{SFTP: true})
	kept := filepath.Join(t.TempDir(), seedFile) // what the first seeded host kept
	for _, tc := range []struct {
		name     string
		cached   bool
		seed     func(s *Shipper) Seed
		seeds    int
		sessions int // of commands: a seeded host runs its command in its deploy session
		wantLogs []string
		noLogs   []string
	}{
		{name: "seeded", seed: func(s *Shipper) Seed {
			return func(ctx context.Context, file string) error {
				parts, err := seedStream(s.own, "")
				if err != nil {
					return err
				}
				return putSFTP(ctx, fx.client, fx.child.Host, file, parts...)
			}
		}, seeds: 1, sessions: 1, noLogs: []string{"shipping grifork binary", "seeding grifork failed"}},
		// What the seeded host kept seeds the next one as it is: were it
		// compressed anew from the wrong binary, the host would refuse it.
		{name: "seeded with what a host kept", seed: func(*Shipper) Seed {
			return func(ctx context.Context, file string) error {
				parts, err := seedStream(&shipBinary{path: "/bin/true"}, kept)
				if err != nil {
					return err
				}
				return putSFTP(ctx, fx.client, fx.child.Host, file, parts...)
			}
		}, seeds: 1, sessions: 1, noLogs: []string{"shipping grifork binary", "seeding grifork failed"}},
		{name: "the seed fails", seed: func(*Shipper) Seed {
			return func(context.Context, string) error { return errors.New("seeder gone") }
		}, seeds: 1, sessions: 2, wantLogs: []string{"seeding grifork failed", "seeder gone", "shipping grifork binary"}},
		{name: "the seeded binary is not the one", seed: func(*Shipper) Seed {
			return func(ctx context.Context, file string) error {
				other := &shipBinary{path: "/bin/true"}
				if _, err := other.hash(); err != nil {
					return err
				}
				parts, err := seedStream(other, "")
				if err != nil {
					return err
				}
				return putSFTP(ctx, fx.client, fx.child.Host, file, parts...)
			}
		}, seeds: 1, sessions: 3, wantLogs: []string{"seeding grifork failed", "shipped grifork has SHA-256", "shipping grifork binary"}}, // and one removing the run directory
		{name: "cached already", cached: true, seed: func(*Shipper) Seed {
			return func(context.Context, string) error { return errors.New("no seed wanted") }
		}, sessions: 1, noLogs: []string{"shipping grifork binary", "seeding grifork failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.cached {
				if err := os.RemoveAll(fx.tmpdir); err != nil {
					t.Fatal(err)
				}
			}
			var logs sshdtest.SyncBuffer
			f := fx.forker(func(o *ForkOptions) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
			seeds := 0
			seed := tc.seed(f.ship)
			before := fx.commandSessions(t)
			d, err := launched(f.ship, fx.child.Host, func(ctx context.Context, file string) error {
				seeds++
				if !strings.HasPrefix(file, fx.tmpdir+"/run-") {
					t.Errorf("seed into %s, want a file in a run directory under %s", file, fx.tmpdir)
				}
				return seed(ctx, file)
			})
			if err != nil {
				t.Fatalf("Launch: %v\n%s", err, logs.String())
			}
			defer f.ship.Cleanup(context.Background(), fx.child.Host, d.Run)
			if seeds != tc.seeds {
				t.Errorf("seed called %d times, want %d", seeds, tc.seeds)
			}
			if got := fx.commandSessions(t) - before; got != tc.sessions {
				t.Errorf("%d sessions, want %d", got, tc.sessions)
			}
			if d.Exe != fx.cached() || readFile(t, fx.cached()) != readFile(t, fx.script) {
				t.Errorf("exe %s, want the cached binary %s with the shipped content", d.Exe, fx.cached())
			}
			if fi, err := os.Stat(fx.cached()); err != nil || !fi.ModTime().Equal(binMtime(fx.sum)) || fi.Mode().Perm() != 0o755 {
				t.Errorf("cached binary: %v %v; want it mode 0755, modified at %v", err, fi, binMtime(fx.sum))
			}
			// The relay that will run there seeds others with the compressed
			// binary its host kept.
			want := []string{seedFile}
			if tc.cached {
				want = nil
			}
			if entries, err := os.ReadDir(d.Run); err != nil || len(entries) != len(want) || len(want) == 1 && entries[0].Name() != want[0] {
				t.Errorf("run directory %s: %v, holds %v; want %v", d.Run, err, entries, want)
			}
			if tc.name == "seeded" {
				b, err := os.ReadFile(filepath.Join(d.Run, seedFile))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(kept, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if runs, _ := filepath.Glob(filepath.Join(fx.tmpdir, "run-*")); len(runs) != 1 {
				t.Errorf("tmpdir holds the run directories %v, want only the deployment's", runs)
			}
			for _, w := range tc.wantLogs {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, logs.String())
				}
			}
			for _, w := range tc.noLogs {
				if strings.Contains(logs.String(), w) {
					t.Errorf("log says %q:\n%s", w, logs.String())
				}
			}
		})
	}
}

// launched is Launch of a command that ends at once: what readying the host
// left is the test's.
func launched(ship *Shipper, host core.Host, seed Seed) (Deployment, error) {
	return ship.Launch(context.Background(), host, []string{"--relay"}, seed, strings.NewReader("{}\n"), io.Discard, io.Discard, func(Deployment) {})
}

// A command cancelled while it runs in the deploy session is named as the
// command it ran, not as the deploy script around it.
func TestLaunchCancelledCommandNamed(t *testing.T) {
	fx := newForkFixture(t)
	bin := filepath.Join(t.TempDir(), "grifork")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho up\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ship := NewShipper(fx.client, core.GriforkConfig{Tmpdir: fx.tmpdir, Exec: bin}, bin, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	go func() {
		bufio.NewReader(pr).ReadString('\n') // the command runs: stop it
		cancel()
		io.Copy(io.Discard, pr)
	}()
	d, err := ship.Launch(ctx, fx.child.Host, []string{"--relay"}, nil, strings.NewReader(""), pw, io.Discard, func(Deployment) {})
	pw.Close()
	defer ship.Cleanup(context.Background(), fx.child.Host, d.Run)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Launch: %v, want context.Canceled", err)
	}
	if msg := err.Error(); strings.Contains(msg, "umask") || !strings.Contains(msg, launchCmdline(d, []string{"--relay"})) {
		t.Errorf("error %q: want it to name the command %q, not the deploy script", msg, launchCmdline(d, []string{"--relay"}))
	}
}

// A command that fails in the deploy session keeps its exit status and its
// stderr, named as the command it ran.
func TestLaunchFailureInTheDeploySession(t *testing.T) {
	fx := newForkFixture(t)
	bin := filepath.Join(t.TempDir(), "grifork")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho bad >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ship := NewShipper(fx.client, core.GriforkConfig{Tmpdir: fx.tmpdir, Exec: bin}, bin, nil)
	var errOut strings.Builder
	d, err := ship.Launch(context.Background(), fx.child.Host, []string{"--relay"}, nil, strings.NewReader(""), io.Discard, &errOut, func(Deployment) {})
	defer ship.Cleanup(context.Background(), fx.child.Host, d.Run)
	var ce *sshx.CommandError
	if !errors.As(err, &ce) || ce.ExitStatus != 3 || ce.Command != launchCmdline(d, []string{"--relay"}) {
		t.Fatalf("Launch: %#v; want a CommandError of %q with exit status 3", err, launchCmdline(d, []string{"--relay"}))
	}
	if errOut.String() != "bad\n" {
		t.Errorf("the command's stderr: %q, want %q", errOut.String(), "bad\n")
	}
}

// As many deploys that ship the binary as the connection allows sessions
// (sshx's bound, 8) each hold one: none waits for another for SFTP, which
// would never come, but ships through its own session instead.
func TestDeploysFillingTheConnectionShip(t *testing.T) {
	fx := newForkFixtureOpts(t, sshdtest.Opts{SFTP: true})
	ship := fx.forker(nil).ship
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			d, err := ship.Deploy(ctx, fx.child.Host, []File{{Name: "f", Data: []byte("data")}})
			if err != nil {
				t.Errorf("Deploy: %v", err)
				return
			}
			defer ship.Cleanup(context.Background(), fx.child.Host, d.Run)
			if got, err := os.ReadFile(filepath.Join(d.Run, "f")); err != nil || string(got) != "data" {
				t.Errorf("run dir file: %v, %q", err, got)
			}
		})
	}
	wg.Wait()
	if readFile(t, fx.cached()) != readFile(t, fx.script) {
		t.Errorf("the cached binary %s is not the shipped one", fx.cached())
	}
}

// Cancelled while a relay seeds the host, Launch leaves no run directory
// there, nor the part of the binary the seeder wrote into it: the deploy
// session, which would have removed it, is stopped with the rest.
func TestLaunchCancelledWhileSeeding(t *testing.T) {
	fx := newForkFixtureOpts(t, sshdtest.Opts{SFTP: true})
	ship := fx.forker(nil).ship
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := ship.Launch(ctx, fx.child.Host, []string{"--relay"}, func(ctx context.Context, file string) error {
		if err := os.WriteFile(file, []byte("part of a binary"), 0o600); err != nil {
			return err
		}
		cancel()
		// The seeder's stop takes a while: the session is gone by then.
		time.Sleep(3 * time.Second)
		return ctx.Err()
	}, strings.NewReader("{}\n"), io.Discard, io.Discard, func(Deployment) { t.Error("the command started") })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Launch: %v, want context.Canceled", err)
	}
	if runs, _ := filepath.Glob(filepath.Join(fx.tmpdir, "run-*")); len(runs) != 0 {
		t.Errorf("run directories left on the host: %v", runs)
	}
}

// Cancelled once the host made its run directory (while grifork is readied
// or shipped there, or runs in it), Launch leaves no run directory behind,
// whether the binary was cached there or not: but for one it returns, for
// its caller's Cleanup (its command started).
func TestLaunchCancelledDuringSetup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cached bool
		after  time.Duration
	}{
		{"uncached, at once", false, 0},
		{"uncached, shipping", false, 30 * time.Millisecond},
		{"cached, at once", true, 0},
		{"cached, running", true, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newForkFixtureOpts(t, sshdtest.Opts{SFTP: true})
			ship := fx.forker(nil).ship
			if tc.cached {
				d, err := ship.Deploy(context.Background(), fx.child.Host, nil)
				if err != nil {
					t.Fatal(err)
				}
				ship.Cleanup(context.Background(), fx.child.Host, d.Run)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				for ctx.Err() == nil {
					if runs, _ := filepath.Glob(filepath.Join(fx.tmpdir, "run-*")); len(runs) > 0 {
						time.Sleep(tc.after)
						cancel()
						return
					}
					time.Sleep(time.Millisecond)
				}
			}()
			// A relay that waits for its settings until it is stopped.
			stdin, hold := io.Pipe()
			defer hold.Close()
			d, err := ship.Launch(ctx, fx.child.Host, []string{"--relay"}, nil, stdin, io.Discard, io.Discard, func(Deployment) {})
			if err == nil {
				t.Fatal("Launch succeeded though cancelled")
			}
			ship.Cleanup(ctx, fx.child.Host, d.Run)
			if runs, _ := filepath.Glob(filepath.Join(fx.tmpdir, "run-*")); len(runs) != 0 {
				t.Errorf("run directories left on the host: %v (Launch: %v)", runs, err)
			}
		})
	}
}

// A seeded host's command that fails after the binary was verified is the
// command's failure, never the seeding's: Launch neither ships the binary
// again nor starts the command a second time.
func TestLaunchSeededCommandFails(t *testing.T) {
	fx := newForkFixtureOpts(t, sshdtest.Opts{SFTP: true})
	var logs sshdtest.SyncBuffer
	f := fx.forker(func(o *ForkOptions) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	seeds := 0
	before := fx.commandSessions(t)
	var errOut strings.Builder
	// The fake grifork dies (exit 3) on the Griforkfile "die" (ZGll).
	d, err := f.ship.Launch(context.Background(), fx.child.Host, []string{"--relay"}, func(ctx context.Context, file string) error {
		seeds++
		parts, err := seedStream(f.ship.own, "")
		if err != nil {
			return err
		}
		return putSFTP(ctx, fx.client, fx.child.Host, file, parts...)
	}, strings.NewReader(`{"data":"ZGll"}`+"\n"), io.Discard, &errOut, func(Deployment) {})
	defer f.ship.Cleanup(context.Background(), fx.child.Host, d.Run)
	var ce *sshx.CommandError
	if !errors.As(err, &ce) || ce.ExitStatus != 3 {
		t.Fatalf("Launch: %v; want the command's exit status 3\n%s", err, logs.String())
	}
	if seeds != 1 {
		t.Errorf("seed called %d times, want 1", seeds)
	}
	if got := fx.commandSessions(t) - before; got != 1 {
		t.Errorf("%d sessions, want 1: the command ran again", got)
	}
	if !strings.Contains(errOut.String(), "fatal: boom") {
		t.Errorf("the command's stderr: %q", errOut.String())
	}
	for _, w := range []string{"seeding grifork failed", "shipping grifork binary"} {
		if strings.Contains(logs.String(), w) {
			t.Errorf("log says %q:\n%s", w, logs.String())
		}
	}
}
