package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grifork/grifork/internal/testkit/fleet"
	"github.com/grifork/grifork/nodeset"
)

// fileSeq gives every Griforkfile a test writes its own name, so subtests that
// share a directory never overwrite each other's files.
var fileSeq atomic.Int64

// fleetFile writes a new Griforkfile in dir for hosts with the fleet's SSH settings and body.
func fleetFile(t *testing.T, dir string, f *fleet.Fleet, hosts []string, branches int, body string) string {
	t.Helper()
	src := fmt.Sprintf(`branches(%d)
hosts %s
ssh { user = "root", keys = { %q }, known_hosts = %q, timeout = 5 }
%s
`, branches, luaList(hosts), f.KeyFile(), f.KnownHostsFile(), body)
	path := filepath.Join(dir, fmt.Sprintf("Griforkfile-%d.lua", fileSeq.Add(1)))
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// makeApp fills dir with a small application tree: nested dirs, text and binary files.
func makeApp(t *testing.T, dir string) {
	t.Helper()
	for i := 0; i < 40; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("lib/mod%02d", i%7), fmt.Sprintf("pkg%d", i%3))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 1024*(i%9+1))
		rand.Read(data)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("file%02d.bin", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "name with spaces.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// manifestCmd lists every file and directory under a root with a checksum of each
// file, so two trees are byte-identical exactly when their manifests are equal.
const manifestCmd = `cd "$1" && find . -type d | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum`

func localManifest(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", manifestCmd, "sh", dir).Output()
	if err != nil {
		t.Fatalf("manifest of %s: %v", dir, err)
	}
	return string(out)
}

// checkAll asserts that every host's /srv/app has exactly want as its manifest.
func checkAll(t *testing.T, f *fleet.Fleet, hosts []string, want string) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	bad := map[string]string{}
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := f.Exec(context.Background(), h, "sh", "-c", manifestCmd, "sh", "/srv/app")
			if err != nil || string(out) != want {
				mu.Lock()
				bad[h] = fmt.Sprintf("err=%v, %d bytes of manifest", err, len(out))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d of %d hosts differ from the source: %v", len(bad), len(hosts), bad)
	}
}

// syncBody propagates app to /srv/app: the root copies to generation 1, each
// parent on to its children.
func syncBody(app string) string {
	return fmt.Sprintf(`
local SRC = %q
locally(function(src, dst)
  rsync(SRC .. "/", "/srv/app/")
end)
remote(function(src, dst)
  rsync_remote("/srv/app/")
end)
`, app)
}

// syncFleet starts a fleet of n hosts and writes, in a new directory, an
// application tree and a Griforkfile (branches 3) that propagates it to every host.
func syncFleet(t *testing.T, n int) (f *fleet.Fleet, dir, app, gf string) {
	t.Helper()
	f = fleet.StartT(t, fleet.Options{Hosts: n})
	dir = t.TempDir()
	app = filepath.Join(dir, "app")
	makeApp(t, app)
	return f, dir, app, fleetFile(t, dir, f, f.Hosts(), 3, syncBody(app))
}

// except returns hosts without those in drop.
func except(hosts []string, drop ...string) []string {
	var out []string
	for _, h := range hosts {
		if !slices.Contains(drop, h) {
			out = append(out, h)
		}
	}
	return out
}

// TestStandaloneSync propagates a tree to 30 hosts (branches 3: depth 4), checks
// every file on every host, then changes and deletes files and checks again.
func TestStandaloneSync(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f, dir, app, gf := syncFleet(t, 30)

	r := runGrifork(t, dir, "-f", gf)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0", r.code)
	}
	if !strings.Contains(r.stdout, "30 ok") {
		t.Errorf("summary does not say 30 ok:\n%s", r.stdout)
	}
	checkAll(t, f, f.Hosts(), localManifest(t, app))

	// A changed file and a deleted one reach every host (rsync --delete is the default).
	if err := os.WriteFile(filepath.Join(app, "name with spaces.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(app, "lib/mod00/pkg0/file00.bin")); err != nil {
		t.Fatal(err)
	}
	if r := runGrifork(t, dir, "-f", gf); r.code != 0 {
		t.Fatalf("second run: exit %d, want 0", r.code)
	}
	checkAll(t, f, f.Hosts(), localManifest(t, app))
}

// TestStandaloneFaults runs on a 12-host fleet: dry-run touches nothing, argument
// quoting, a dead host and a changed host key.
func TestStandaloneFaults(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f, dir, app, gf := syncFleet(t, 12)
	hosts := f.Hosts()

	t.Run("dry-run touches no host", func(t *testing.T) {
		r := runGrifork(t, dir, "-n", "-f", gf)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0", r.code)
		}
		for _, h := range hosts {
			if !strings.Contains(r.stdout, h) {
				t.Errorf("plan does not mention %s", h)
			}
			log, err := f.SSHDLog(h)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(log, "Accepted") || strings.Contains(log, "Connection from") {
				t.Errorf("%s: dry-run connected:\n%s", h, log)
			}
			if out, err := f.Exec(context.Background(), h, "ls", "-A", "/srv"); err != nil || len(out) != 0 {
				t.Errorf("%s: /srv not empty after dry-run: %q %v", h, out, err)
			}
		}
	})

	t.Run("arguments stay data", func(t *testing.T) {
		weird := "/srv/a b/$(touch /tmp/pwned);x"
		body := fmt.Sprintf(`
locally(function(src, dst)
  ssh(dst, "mkdir", { "-p", %q })
  print("argv: " .. sh("printf", { "%%s", "$(id -u);echo no" }))
  print("shell: " .. sh("echo $((6*7))"))
end)`, weird)
		gf := fleetFile(t, dir, f, hosts[3:5], 3, body)
		r := runGrifork(t, dir, "-f", gf)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0", r.code)
		}
		for _, h := range hosts[3:5] {
			if _, err := f.Exec(context.Background(), h, "test", "-d", weird); err != nil {
				t.Errorf("%s: directory %q missing", h, weird)
			}
			if _, err := f.Exec(context.Background(), h, "test", "-e", "/tmp/pwned"); err == nil {
				t.Errorf("%s: /tmp/pwned exists: an argument ran as shell code", h)
			}
		}
		if !strings.Contains(r.stdout, "argv: $(id -u);echo no") {
			t.Errorf("sh with an args table used a shell:\n%s", r.stdout)
		}
		if !strings.Contains(r.stdout, "shell: 42") {
			t.Errorf("sh with one string did not use a shell:\n%s", r.stdout)
		}
	})

	t.Run("interrupt stops remote commands", func(t *testing.T) {
		slow := hosts[3:6]
		gf := fleetFile(t, dir, f, slow, 3, `locally(function(src, dst) ssh(dst, "sleep", { "300" }) end)`)
		run := startGrifork(t, dir, "-f", gf)
		for _, h := range slow {
			waitProcs(t, f, h, "sleep 300", 1, run)
		}
		code, took := run.interrupt(t, 15*time.Second)
		if code != 130 {
			t.Errorf("exit code %d, want 130", code)
		}
		if took > 5*time.Second {
			t.Errorf("took %v to stop, want a few seconds", took)
		}
		deadline := time.Now().Add(5 * time.Second)
		for _, h := range slow {
			for procsRunning(t, f, h, "sleep 300") > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%s: the remote command survived Ctrl-C", h)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	})

	t.Run("dead host fails with its subtree skipped", func(t *testing.T) {
		// hosts[1] is in generation 1 with children hosts[6..8] (branches 3).
		dead := hosts[1]
		if err := f.StopHost(dead); err != nil {
			t.Fatal(err)
		}
		r := runGrifork(t, dir, "-f", gf)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1", r.code)
		}
		// Host names are addresses, one often a prefix of another: match whole
		// summary lines.
		skipped := hosts[6:9]
		for _, want := range []string{
			"8 ok, 1 failed, 3 skipped",
			"\n  " + dead + " (0.0-1.1) locally: ",
			"\nskipped 3 hosts under " + dead + " (parent failed): " + nodeset.Fold(skipped) + "\n",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("summary lacks %q:\n%s", want, r.stdout)
			}
		}
		for _, h := range skipped {
			if _, err := f.Exec(context.Background(), h, "test", "-e", "/srv/app"); err == nil {
				t.Errorf("%s got data although its parent is dead", h)
			}
		}
		checkAll(t, f, except(hosts, append([]string{dead}, skipped...)...), localManifest(t, app))
	})

	t.Run("changed host key is refused", func(t *testing.T) {
		h := hosts[11]
		if err := f.RegenHostKey(h); err != nil {
			t.Fatal(err)
		}
		gf := fleetFile(t, dir, f, []string{h}, 3, `locally(function(src, dst) ssh(dst, "true") end)`)
		r := runGrifork(t, dir, "-f", gf)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1", r.code)
		}
		out := r.stdout + r.stderr
		if !strings.Contains(out, h) || !strings.Contains(out, "SHA256:") {
			t.Errorf("refusal does not name the host and the fingerprint:\n%s", out)
		}
	})
}

// fleetOverride writes an override file that points an example at the fleet:
// its hosts, its key and known_hosts, the root login; extra is appended.
func fleetOverride(t *testing.T, dir string, f *fleet.Fleet, extra string) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("fleet-%d.lua", fileSeq.Add(1)))
	src := fmt.Sprintf("hosts %s\nssh { user = \"root\", keys = { %q }, known_hosts = %q }\n%s",
		luaList(f.Hosts()), f.KeyFile(), f.KnownHostsFile(), extra)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// example is the absolute path of examples/Griforkfile.<name>.lua.
func example(t *testing.T, name string) string {
	t.Helper()
	path, err := filepath.Abs("../examples/Griforkfile." + name + ".lua")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAdHocCollect runs the ad-hoc example: one value per host in finish.
func TestAdHocCollect(t *testing.T) {
	fleet.Require(t)
	t.Parallel()
	f := fleet.StartT(t, fleet.Options{Hosts: 7})
	dir := t.TempDir()
	start := time.Now()
	r := runGrifork(t, dir, "-f", example(t, "uptime"), "-o", fleetOverride(t, dir, f, ""))
	if r.code != 0 {
		t.Fatalf("exit %d, want 0", r.code)
	}
	for _, h := range f.Hosts() {
		n := 0
		for _, line := range strings.Split(r.stdout, "\n") {
			if i := strings.Index(line, "| "); i >= 0 {
				line = line[i+2:] // the printer's host prefix
			}
			if strings.HasPrefix(line, h+" ") && strings.Contains(line, "load average") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d uptime rows in the table, want 1", h, n)
		}
	}
	t.Logf("ad-hoc over %d hosts took %v", len(f.Hosts()), time.Since(start))
}
