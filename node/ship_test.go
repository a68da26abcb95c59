package node

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
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
// (one session on the host: sshd's own count), in a session of its own after
// shipping the binary, and not at all without ship when the cache lacks it.
func TestLaunch(t *testing.T) {
	fx := newForkFixture(t)
	bin := filepath.Join(t.TempDir(), "grifork")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nIFS= read -r line\necho \"$(pwd) $* $line\"\necho oops >&2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sessions := func() int {
		b, err := os.ReadFile(fx.sshd.Log)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "Starting session: command")
	}
	for _, tc := range []struct {
		name     string
		exec     string // grifork { exec }
		ship     bool
		wantErr  error
		sessions int
	}{
		{"not cached, not shipped", "", false, ErrNotCached, 1},
		{"not cached, shipped", "", true, nil, 2},
		{"cached", "", false, nil, 1},
		{"grifork { exec }", bin, false, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ship := NewShipper(fx.client, core.GriforkConfig{Tmpdir: fx.tmpdir, Exec: tc.exec}, bin, nil)
			var out, errOut strings.Builder
			var started []Deployment
			before := sessions()
			d, err := ship.Launch(context.Background(), fx.child.Host, []string{"--relay", "a b"}, tc.ship,
				strings.NewReader("hello\n"), &out, &errOut, func(d Deployment) { started = append(started, d) })
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Launch: %v, want %v", err, tc.wantErr)
			}
			if got := sessions() - before; got != tc.sessions {
				t.Errorf("%d sessions, want %d", got, tc.sessions)
			}
			if tc.wantErr != nil {
				if len(started) != 0 || out.Len() != 0 {
					t.Errorf("started %v, output %q: want nothing run", started, out.String())
				}
				return
			}
			defer ship.Cleanup(context.Background(), fx.child.Host, d.Run)
			if len(started) != 1 || started[0].Run != d.Run || !strings.HasPrefix(d.Run, fx.tmpdir+"/run-") {
				t.Fatalf("started %v, run %q", started, d.Run)
			}
			if want := d.Run + " --relay a b hello\n"; out.String() != want || errOut.String() != "oops\n" {
				t.Errorf("stdout %q, stderr %q; want %q, %q", out.String(), errOut.String(), want, "oops\n")
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
