package node

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/core/output"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
	"github.com/grifork/grifork/sshx"
)

// fakeGrifork is a stand-in for grifork --on-remote: it keeps copies of what it
// was given in spy, then behaves as its Griforkfile's content says.
const fakeGrifork = `#!/bin/sh
spy=%s
mkdir -p "$spy"
IFS= read -r line
printf '%%s\n' "$line" >"$spy/stdin"
echo "$@" >"$spy/args"
pwd >"$spy/cwd"
cp "$5" "$spy/tree.json"
ls -ldn "$(dirname "$5")" >"$spy/runls"
ls -A "$(dirname "$5")" >"$spy/runfiles"
echo "note from stderr" >&2
echo '{"type":"started","node":"0.0-1.0-2.0","host":"h2","task":"remote"}'
# What to do is the Griforkfile's content, in the first line (base64 in JSON).
case "$line" in
*'"data":"ZGll"'*) echo "fatal: boom" >&2; exit 3 ;; # die
*'"data":"c2xlZXA="'*) # sleep
	sleep 300 &
	echo $! >"$spy/sleeppid"
	wait
	;;
*'"data":"Z2FyYmFnZQ=="'*) echo "not an event" ;; # garbage
*'"data":"c3RvcA=="'*) # stop
	IFS= read -r line
	printf '%%s\n' "$line" >"$spy/stop"
	exit 130
	;;
*'"data":"aGFsdA=="'*) # halt
	IFS= read -r line
	printf '%%s\n' "$line" >"$spy/halt"
	;;
esac
echo '{"type":"done","node":"0.0-1.0","host":"127.0.0.1","status":"ok"}'
`

type forkFixture struct {
	sshd   *sshdtest.SSHD
	client *sshx.Client
	spy    string
	script string // the fake grifork, on this machine (and thus on the "child")
	sum    string
	tmpdir string
	child  *core.Node
	sub    *core.Tree
}

func newForkFixture(t *testing.T) *forkFixture {
	t.Helper()
	return newForkFixtureOpts(t, sshdtest.Opts{})
}

func newForkFixtureOpts(t *testing.T, o sshdtest.Opts) *forkFixture {
	t.Helper()
	s := sshdtest.Start(t, o)
	c, _ := newClient(t, s, nil)
	dir := t.TempDir()
	fx := &forkFixture{sshd: s, client: c, spy: filepath.Join(dir, "spy"), script: filepath.Join(dir, "grifork"),
		tmpdir: filepath.Join(dir, "tmp")}
	// The script differs per test (its spy path), so so does its cache name.
	body := fmt.Sprintf(fakeGrifork, fx.spy)
	if err := os.WriteFile(fx.script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(body))
	fx.sum = hex.EncodeToString(h[:])
	tr, err := core.BuildTree([]core.Host{sshdtest.Local, {Name: "h2"}, {Name: "h3"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	fx.child = tr.Root.Children[0]
	fx.sub = tr.Subtree(fx.child)
	return fx
}

func (fx *forkFixture) forker(mod func(*ForkOptions)) *Forker {
	o := ForkOptions{Grifork: core.GriforkConfig{Tmpdir: fx.tmpdir}, Griforkfile: []byte("ok"), Binary: fx.script}
	if mod != nil {
		mod(&o)
	}
	return NewForker(fx.client, o)
}

func (fx *forkFixture) fork(ctx context.Context, f *Forker) ([]core.Event, error) {
	var evs []core.Event
	err := f.Fork(ctx, fx.child.Parent, fx.child, fx.sub, func(e core.Event) { evs = append(evs, e) })
	return evs, err
}

func (fx *forkFixture) cached() string { return filepath.Join(fx.tmpdir, "grifork-"+fx.sum[:12]) }

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestForkShipsAndRuns(t *testing.T) {
	fx := newForkFixture(t)
	f := fx.forker(func(o *ForkOptions) {
		o.Griforkfile, o.Override = []byte(`ssh { password = "hunter2" }`), []byte("override")
		o.Name, o.OverrideName, o.Secrets = "deploy.lua", "o.lua", Secrets{Password: "hunter2"}
	})
	evs, err := fx.fork(context.Background(), f)
	if err != nil {
		t.Fatalf("Fork: %v", err)
	}
	// The stdout events in order; stderr, a stream of its own that may come
	// before, between or after them, became one output event of the child.
	var kinds []string
	outputs := 0
	for _, e := range evs {
		if e.Type != core.EventOutput {
			kinds = append(kinds, string(e.Type))
			continue
		}
		outputs++
		if e.Line != "note from stderr" || e.Stream != "stderr" || e.NodeID != fx.child.ID {
			t.Errorf("stderr event %+v", e)
		}
	}
	// The heartbeat first: the Forker's own, as it starts the remote grifork.
	if got := strings.Join(kinds, ","); got != "heartbeat,started,done" || outputs != 1 {
		t.Errorf("events %s and %d output events, want heartbeat,started,done and the stderr line", got, outputs)
	}
	if evs[0].NodeID != fx.child.ID {
		t.Errorf("first heartbeat %+v, want one of the child", evs[0])
	}

	// The tmpdir is private; the binary is cached under its checksum.
	fi, err := os.Stat(fx.tmpdir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("tmpdir: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	if got := readFile(t, fx.cached()); got != readFile(t, fx.script) {
		t.Error("cached binary differs from the shipped one")
	}
	// The remote grifork got the exact subtree, the files and the command line.
	tree, err := core.UnmarshalTree([]byte(readFile(t, filepath.Join(fx.spy, "tree.json"))))
	if err != nil || tree.Root.ID != fx.child.ID || len(tree.Nodes()) != 3 || tree.Root.Children[0].Children[0].Host.Name != "h3" {
		t.Errorf("subtree on the child: %v %+v", err, tree)
	}
	// The Griforkfiles and the secret went in memory, as the first line of
	// the input; the run directory held the subtree only.
	hello, err := ReadHello(bufio.NewReader(strings.NewReader(readFile(t, filepath.Join(fx.spy, "stdin")))))
	want := Hello{Secrets: Secrets{Password: "hunter2"}, Griforkfile: File{Name: "deploy.lua", Data: []byte(`ssh { password = "hunter2" }`)},
		Override: &File{Name: "o.lua", Data: []byte("override")}}
	if err != nil || !reflect.DeepEqual(hello, want) {
		t.Errorf("first input line: %+v, %v; want %+v", hello, err, want)
	}
	if files := readFile(t, filepath.Join(fx.spy, "runfiles")); files != "tree.json\n" {
		t.Errorf("run directory held %q, want only tree.json", files)
	}
	args := strings.Fields(readFile(t, filepath.Join(fx.spy, "args")))
	run := filepath.Dir(args[4])
	wantArgs := []string{"--on-remote", "--protocol", strconv.Itoa(ProtocolVersion), "--tree", run + "/tree.json", "--run", run}
	if strings.Join(args, " ") != strings.Join(wantArgs, " ") || filepath.Dir(run) != fx.tmpdir || !strings.HasPrefix(filepath.Base(run), "run-") {
		t.Errorf("args %q, want %q under %s", args, wantArgs, fx.tmpdir)
	}
	if ls := readFile(t, filepath.Join(fx.spy, "runls")); !strings.HasPrefix(ls, "drwx------") {
		t.Errorf("run dir was %s, want mode 0700", ls)
	}
	if cwd := strings.TrimSpace(readFile(t, filepath.Join(fx.spy, "cwd"))); cwd != fx.tmpdir {
		t.Errorf("ran in %s, want the tmpdir %s by default", cwd, fx.tmpdir)
	}
	// The run directory is gone; only the cached binary stays.
	entries, _ := os.ReadDir(fx.tmpdir)
	if len(entries) != 1 || entries[0].Name() != filepath.Base(fx.cached()) {
		t.Errorf("tmpdir holds %v after the fork, want only the cached binary", entries)
	}

	// A second fork finds the binary and does not copy it again.
	ino := inode(t, fx.cached())
	if _, err := fx.fork(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if inode(t, fx.cached()) != ino {
		t.Error("second fork copied the binary again")
	}
	// The cache is recognised by a stat, not by hashing it on the host: the
	// shipped copy carries a modification time derived from its SHA-256.
	if fi, err := os.Stat(fx.cached()); err != nil || !fi.ModTime().Equal(binMtime(fx.sum)) {
		t.Errorf("cached binary: %v, modified %v; want %v", err, fi.ModTime(), binMtime(fx.sum))
	}
	// A cached file with the wrong content is replaced, also one of the same
	// size (written since: another modification time).
	body := readFile(t, fx.script)
	for _, tampered := range []string{"tampered", strings.Repeat("x", len(body))} {
		if err := os.WriteFile(fx.cached(), []byte(tampered), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.fork(context.Background(), fx.forker(nil)); err != nil {
			t.Fatal(err)
		}
		if readFile(t, fx.cached()) != body {
			t.Errorf("a tampered cached binary (%d bytes) was not replaced", len(tampered))
		}
	}
}

// Children deployed at once by one process all get the binary, whose
// compressed entry they share.
func TestDeployConcurrently(t *testing.T) {
	fx := newForkFixture(t)
	ship := fx.forker(nil).ship
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d Deployment
			if d, errs[i] = ship.Deploy(context.Background(), fx.child.Host, []File{{Name: "f", Data: []byte("data")}}); errs[i] == nil {
				if got, err := os.ReadFile(filepath.Join(d.Run, "f")); err != nil || string(got) != "data" {
					errs[i] = fmt.Errorf("run dir file: %v, %q", err, got)
				}
				ship.Cleanup(context.Background(), fx.child.Host, d.Run)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("deploy %d: %v", i, err)
		}
	}
	if readFile(t, fx.cached()) != readFile(t, fx.script) {
		t.Error("cached binary differs from the shipped one")
	}
}

func TestForkExecAndChdir(t *testing.T) {
	fx := newForkFixture(t)
	chdir := t.TempDir()
	f := fx.forker(func(o *ForkOptions) {
		o.Grifork.Exec, o.Grifork.Chdir, o.Binary = fx.script, chdir, "/nonexistent"
	})
	if _, err := fx.fork(context.Background(), f); err != nil {
		t.Fatalf("Fork: %v", err)
	}
	if cwd := strings.TrimSpace(readFile(t, filepath.Join(fx.spy, "cwd"))); cwd != chdir {
		t.Errorf("ran in %s, want %s", cwd, chdir)
	}
	if entries, _ := os.ReadDir(fx.tmpdir); len(entries) != 0 {
		t.Errorf("with exec set, tmpdir holds %v; want nothing shipped", entries)
	}
}

func TestForkFailures(t *testing.T) {
	fx := newForkFixture(t)
	tests := []struct {
		name    string
		setup   func(t *testing.T) *Forker
		wantErr string
	}{
		{
			name: "foreign platform",
			setup: func(t *testing.T) *Forker {
				f := fx.forker(nil)
				f.ship.own.goarch = "riscv64"
				return f
			},
			wantErr: `but this grifork is built for linux/riscv64: install a grifork for that platform there and set grifork { exec = "/path/to/grifork" }, or put grifork-linux-amd64 (make build-all builds it) beside this grifork or in the directory grifork { binaries } names`,
		},
		{
			name:    "remote grifork dies",
			setup:   func(t *testing.T) *Forker { return fx.forker(func(o *ForkOptions) { o.Griforkfile = []byte("die") }) },
			wantErr: "remote grifork exited with status 3: note from stderr; fatal: boom",
		},
		{
			name: "tmpdir writable by others",
			setup: func(t *testing.T) *Forker {
				d := filepath.Join(t.TempDir(), "open")
				if err := os.Mkdir(d, 0o777); err != nil {
					t.Fatal(err)
				}
				os.Chmod(d, 0o777)
				return fx.forker(func(o *ForkOptions) { o.Grifork.Tmpdir = d })
			},
			wantErr: "is writable by others (drwxrwxrwx); make it mode 0700",
		},
		{
			name: "tmpdir in a directory writable by others",
			setup: func(t *testing.T) *Forker {
				d := filepath.Join(t.TempDir(), "open")
				if err := os.Mkdir(d, 0o777); err != nil {
					t.Fatal(err)
				}
				os.Chmod(d, 0o777)
				return fx.forker(func(o *ForkOptions) { o.Grifork.Tmpdir = filepath.Join(d, "gf") })
			},
			wantErr: "is in a directory writable by others without the sticky bit (drwxrwxrwx)",
		},
		{
			name: "cached binary is a symlink",
			setup: func(t *testing.T) *Forker {
				d := filepath.Join(t.TempDir(), "gf")
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(fx.script, filepath.Join(d, "grifork-"+fx.sum[:12])); err != nil {
					t.Fatal(err)
				}
				return fx.forker(func(o *ForkOptions) { o.Grifork.Tmpdir = d })
			},
			wantErr: "grifork-" + fx.sum[:12] + ": is a symbolic link; remove it",
		},
		{
			name: "cached binary is someone else's",
			setup: func(t *testing.T) *Forker {
				d := filepath.Join(t.TempDir(), "gf")
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
				b := filepath.Join(d, "grifork-"+fx.sum[:12])
				if err := os.WriteFile(b, []byte(readFile(t, fx.script)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(b, 1, 1); err != nil {
					t.Fatal(err)
				}
				return fx.forker(func(o *ForkOptions) { o.Grifork.Tmpdir = d })
			},
			wantErr: "belongs to uid 1, not to the login user (uid 0); remove it",
		},
		{
			name: "tmpdir is a symlink",
			setup: func(t *testing.T) *Forker {
				d := filepath.Join(t.TempDir(), "link")
				if err := os.Symlink(t.TempDir(), d); err != nil {
					t.Fatal(err)
				}
				return fx.forker(func(o *ForkOptions) { o.Grifork.Tmpdir = d })
			},
			wantErr: "is a symbolic link",
		},
		{
			name: "unreachable",
			setup: func(t *testing.T) *Forker {
				c, _ := newClient(t, fx.sshd, func(o *sshx.Options) { o.SSH.Port = sshdtest.FreePort(t) })
				return NewForker(c, ForkOptions{Grifork: core.GriforkConfig{Tmpdir: fx.tmpdir}, Binary: fx.script})
			},
			wantErr: "connection refused",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fx.fork(context.Background(), tc.setup(t))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// A line that is not an event reaches the parent as output of the child.
func TestForkStrayOutput(t *testing.T) {
	fx := newForkFixture(t)
	evs, err := fx.fork(context.Background(), fx.forker(func(o *ForkOptions) { o.Griforkfile = []byte("garbage") }))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		found = found || e.Type == core.EventOutput && e.Line == "not an event" && e.Host == fx.child.Name()
	}
	if !found {
		t.Errorf("events %+v lack the stray line", evs)
	}
}

// Cancelling the fork stops the remote grifork and what it started, and the run
// directory is still removed.
func TestForkCancel(t *testing.T) {
	fx := newForkFixture(t)
	f := fx.forker(func(o *ForkOptions) { o.Griforkfile = []byte("sleep") })
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = f.Fork(ctx, fx.child.Parent, fx.child, fx.sub, func(e core.Event) {
			if e.Type == core.EventStarted {
				once.Do(func() { time.AfterFunc(200*time.Millisecond, cancel) })
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("Fork did not return after cancel")
	}
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("err = %v, want cancelled", err)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(fx.spy, "sleeppid"))))
	if perr != nil {
		t.Fatal(perr)
	}
	deadline := time.Now().Add(8 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the remote grifork's child %d survived the cancel", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	entries, _ := os.ReadDir(fx.tmpdir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "run-") {
			t.Errorf("run directory %s left after cancel", e.Name())
		}
	}
}

// A cancelled fork's remote grifork hears why on its input before it is
// stopped, so it fails its running tasks with the root's cause.
func TestForkStopLine(t *testing.T) {
	fx := newForkFixture(t)
	f := fx.forker(func(o *ForkOptions) { o.Griforkfile = []byte("stop") })
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	err := f.Fork(ctx, fx.child.Parent, fx.child, fx.sub, func(e core.Event) {
		if e.Type == core.EventStarted {
			cancel(errors.New("interrupt signal received\nsecond line"))
		}
	})
	if err == nil {
		t.Error("a cancelled fork returned no error")
	}
	got, rerr := os.ReadFile(filepath.Join(fx.spy, "stop"))
	if want := `{"stop":"interrupt signal received; second line"}` + "\n"; rerr != nil || string(got) != want {
		t.Errorf("the remote grifork read %q (%v), want %q", got, rerr, want)
	}
	if cause := ReadStop(bufio.NewReader(strings.NewReader("noise\n"+string(got))), nil); cause.Error() != "interrupt signal received; second line" {
		t.Errorf("ReadStop = %v", cause)
	}
	if cause := ReadStop(bufio.NewReader(strings.NewReader("noise\n")), nil); cause.Error() != "parent grifork is gone" {
		t.Errorf("ReadStop at EOF = %v", cause)
	}
}

// A fork whose run halted (the failure budget was spent) tells its remote
// grifork on its input, which goes on: the halt is not a stop.
func TestForkHaltLine(t *testing.T) {
	fx := newForkFixture(t)
	f := fx.forker(func(o *ForkOptions) { o.Griforkfile = []byte("halt") })
	halt := core.NewHalt()
	ctx := core.WithHalt(context.Background(), halt)
	err := f.Fork(ctx, fx.child.Parent, fx.child, fx.sub, func(e core.Event) {
		if e.Type == core.EventStarted {
			halt.Fire("not started: the run stopped after 1 failed host (max_failures 0)\nsecond line")
		}
	})
	if err != nil {
		t.Errorf("a halted fork failed: %v", err)
	}
	got, rerr := os.ReadFile(filepath.Join(fx.spy, "halt"))
	want := `{"halt":"not started: the run stopped after 1 failed host (max_failures 0); second line"}` + "\n"
	if rerr != nil || string(got) != want {
		t.Fatalf("the remote grifork read %q (%v), want %q", got, rerr, want)
	}
	// The node's side: the halt line fires its halt and the reading goes on
	// to the stop line.
	h := core.NewHalt()
	cause := ReadStop(bufio.NewReader(strings.NewReader(string(got)+`{"stop":"interrupted"}`+"\n")), h)
	why, fired := h.Reason()
	if !fired || why != "not started: the run stopped after 1 failed host (max_failures 0); second line" || cause.Error() != "interrupted" {
		t.Errorf("ReadStop = %v, halt %v %q", cause, fired, why)
	}
}

func TestPlatformMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		goos, goarch, uname string
		want                bool
	}{
		{"linux", "amd64", "Linux x86_64", true},
		{"linux", "arm64", "Linux aarch64", true},
		{"darwin", "arm64", "Darwin arm64", true},
		{"linux", "amd64", "Linux aarch64", false},
		{"linux", "amd64", "FreeBSD amd64", false},
		{"linux", "386", "Linux i686", true},
		{"linux", "amd64", "", false},
	}
	for _, tc := range tests {
		b := &shipBinary{goos: tc.goos, goarch: tc.goarch}
		if got := b.runsOn(tc.uname); got != tc.want {
			t.Errorf("%s/%s on %q: %v, want %v", tc.goos, tc.goarch, tc.uname, got, tc.want)
		}
	}
}

func TestPlanCmdline(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "grifork")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("binary"))
	sum := hex.EncodeToString(h[:])[:12]
	child := &core.Node{ID: "0.0-1.0", Host: core.Host{Name: "web1"}}
	ninety := 90 * time.Second
	tests := []struct {
		opts ForkOptions
		want string
	}{
		{ForkOptions{Binary: bin},
			"cd -- '/tmp/grifork-<uid>' && exec '/tmp/grifork-<uid>/grifork-" + sum + "' --on-remote --protocol 4 --tree '/tmp/grifork-<uid>/run-XXXXXXXXXX/tree.json' --run '/tmp/grifork-<uid>/run-XXXXXXXXXX'"},
		{ForkOptions{Grifork: core.GriforkConfig{Chdir: "/srv/my app", Tmpdir: "/var/tmp/gf", Exec: "/usr/local/bin/grifork", User: "deploy"}, Override: []byte{}},
			"cd -- '/srv/my app' && exec /usr/local/bin/grifork --on-remote --protocol 4 --tree /var/tmp/gf/run-XXXXXXXXXX/tree.json --run /var/tmp/gf/run-XXXXXXXXXX  (as deploy)"},
		{ForkOptions{Grifork: core.GriforkConfig{Exec: "grifork"}, CommandTimeout: &ninety},
			"cd -- '/tmp/grifork-<uid>' && exec grifork --on-remote --protocol 4 --tree '/tmp/grifork-<uid>/run-XXXXXXXXXX/tree.json' --command-timeout 1m30s --run '/tmp/grifork-<uid>/run-XXXXXXXXXX'"},
		{ForkOptions{Grifork: core.GriforkConfig{Exec: "grifork"}, Heal: true},
			"cd -- '/tmp/grifork-<uid>' && exec grifork --on-remote --protocol 4 --tree '/tmp/grifork-<uid>/run-XXXXXXXXXX/tree.json' --heal --run '/tmp/grifork-<uid>/run-XXXXXXXXXX'"},
	}
	for _, tc := range tests {
		if got := NewForker(nil, tc.opts).PlanCmdline(child); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func TestCheckTmpdir(t *testing.T) {
	t.Parallel()
	const tmp = "drwxrwxrwt 9 0 0 4096 Jan 1 00:00 /tmp"
	tests := []struct {
		ls, parent, uid, wantErr string
	}{
		{"drwx------ 2 0 0 4096 Jan 1 00:00 /tmp/grifork-0", tmp, "0", ""},
		{"drwxr-xr-x 2 1000 1000 4096 Jan 1 00:00 /x", "drwxr-xr-x 2 0 0 4096 Jan 1 00:00 /", "1000", ""},
		{"drwx------ 2 1000 1000 4096 Jan 1 00:00 /x", tmp, "0", "belongs to uid 1000"},
		{"drwxrwx--- 2 0 0 4096 Jan 1 00:00 /x", tmp, "0", "writable by others"},
		{"lrwxrwxrwx 1 0 0 4 Jan 1 00:00 /x -> /y", tmp, "0", "symbolic link"},
		{"-rw------- 1 0 0 4 Jan 1 00:00 /x", tmp, "0", "not a directory"},
		{"", tmp, "0", "cannot read"},
		{"drwx------ 2 0 0 4096 Jan 1 00:00 /open/gf", "drwxrwxrwx 2 0 0 4096 Jan 1 00:00 /open", "0", "writable by others without the sticky bit"},
		{"drwx------ 2 0 0 4096 Jan 1 00:00 /open/gf", "drwxrwxrwT 2 0 0 4096 Jan 1 00:00 /open", "0", ""},
		{"drwx------ 2 0 0 4096 Jan 1 00:00 /x", "", "0", "parent: cannot read"},
	}
	for _, tc := range tests {
		err := checkTmpdir(tc.ls, tc.parent, tc.uid)
		if (tc.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: err = %v, want %q", tc.ls, err, tc.wantErr)
		}
	}
}

// newClient returns a Client for s, without agent or ssh_config.
func newClient(t *testing.T, s *sshdtest.SSHD, mod func(*sshx.Options)) (*sshx.Client, *sshdtest.SyncBuffer) {
	t.Helper()
	out := &sshdtest.SyncBuffer{}
	o := sshx.Options{SSH: s.SSHConfig(), ConfigFile: "none", Agent: "none", Output: output.NewPrinter(out, nil).Writer}
	if mod != nil {
		mod(&o)
	}
	c, err := sshx.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, out
}
