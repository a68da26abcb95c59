package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/fleet"
	"github.com/grifork/grifork/node"
)

// bcManifestCmd lists type, mode, path and link target of everything under a
// root, and a checksum of each file: equal manifests are byte-identical trees
// with the same modes and links.
const bcManifestCmd = `cd "$1" && find . -printf '%y %m %p -> %l\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum`

func bcLocalManifest(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", bcManifestCmd, "sh", dir).Output()
	if err != nil {
		t.Fatalf("manifest of %s: %v", dir, err)
	}
	return string(out)
}

// bcManifests returns every host's manifest of /srv/app.
func bcManifests(t *testing.T, f *fleet.Fleet, hosts []string) map[string]string {
	t.Helper()
	var mu sync.Mutex
	out := map[string]string{}
	forEachHost(t, hosts, func(h string) error {
		b, err := f.Exec(context.Background(), h, "sh", "-c", bcManifestCmd, "sh", "/srv/app")
		mu.Lock()
		out[h] = string(b)
		mu.Unlock()
		if err != nil && !strings.Contains(err.Error(), "No such file") {
			return err
		}
		return nil
	})
	return out
}

// bcCheck asserts that exactly the hosts in want hold the manifest m.
func bcCheck(t *testing.T, f *fleet.Fleet, hosts []string, m string) {
	t.Helper()
	var bad []string
	for h, got := range bcManifests(t, f, hosts) {
		if got != m {
			bad = append(bad, h)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%d of %d hosts differ from the source: %v", len(bad), len(hosts), bad)
	}
}

// makeBroadcastApp fills dir with what a broadcast must carry exactly.
func makeBroadcastApp(t *testing.T, dir string, bigMiB int) {
	t.Helper()
	makeApp(t, dir)
	write := func(name string, data []byte, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(`it's a "quoted" name; with spaces`, []byte("q\n"), 0o640)
	write("empty", nil, 0o600)
	write("run.sh", []byte("#!/bin/sh\necho run\n"), 0o755)
	big := make([]byte, bigMiB<<20)
	rand.Read(big)
	write("big.bin", big, 0o644)
	if err := os.Symlink("lib/mod01", filepath.Join(dir, "current")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/target", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(".git/HEAD", []byte("ref\n"), 0o644)
}

// rewrite gives the file p n bytes of new random content.
func rewrite(t *testing.T, p string, n int) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// treeSize is the bytes of the regular files under dir, but for .git.
func treeSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() == ".git" {
			if err == nil {
				err = filepath.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// bcResult is a host's broadcast in a --report file.
type bcResult struct {
	Status   string `json:"status"`
	Received int64  `json:"received"`
	Written  int64  `json:"written"`
	Kind     string `json:"kind"`
	Stream   string `json:"stream"`
}

// bcReport reads every host's broadcast from a --report file.
func bcReport(t *testing.T, path string) map[string]bcResult {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Results []struct {
			Host      string    `json:"host"`
			Broadcast *bcResult `json:"broadcast"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	out := map[string]bcResult{}
	for _, x := range r.Results {
		if x.Broadcast == nil {
			t.Fatalf("%s has no broadcast result in %s", x.Host, path)
		}
		out[x.Host] = *x.Broadcast
	}
	if len(out) == 0 {
		t.Fatalf("no results in %s", path)
	}
	return out
}

// relays lists the broadcast relays running on a host.
func relays(f *fleet.Fleet, h string) ([]fleet.Proc, error) {
	procs, err := f.Procs(h)
	if err != nil {
		return nil, err
	}
	var out []fleet.Proc
	for _, p := range procs {
		if f := strings.Fields(p.Cmdline); len(f) >= 2 && f[1] == node.RelayFlag {
			out = append(out, p)
		}
	}
	return out, nil
}

// waitRelay waits until host runs a relay that has staged at least n bytes,
// and returns its PID.
func waitRelay(t *testing.T, f *fleet.Fleet, h string, n int64, run *background) int {
	t.Helper()
	app, err := f.HostPath(h, "/srv/app")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		ps, err := relays(f, h)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		if len(ps) == 1 {
			dirs, _ := filepath.Glob(filepath.Join(app, ".grifork-stage-*"))
			for _, d := range dirs {
				filepath.Walk(d, func(_ string, fi os.FileInfo, err error) error {
					if err == nil && fi.Mode().IsRegular() {
						total += fi.Size()
					}
					return nil
				})
			}
			if total >= n {
				return ps[0].PID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d relays, %d bytes staged; output:\n%s", h, len(ps), total, run.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBroadcast runs the broadcast on 20 real hosts in both modes: exact
// copies (modes, links, odd names, empty and large files), a second broadcast
// after changes at the source (--delete), a corrupted copy, a relay killed
// mid-stream with and without --heal, Ctrl-C, and a source that cannot be
// sent. The steps share one fleet and run in order.
func TestBroadcast(t *testing.T) {
	f := fleet.StartT(t, fleet.Options{Hosts: 20, RateMbit: 200})
	hosts := f.Hosts()
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	makeBroadcastApp(t, app, 50)
	gf := func(mode string, branches int, extra string) string {
		return fleetFile(t, dir, f, hosts, 3, fmt.Sprintf(`%s
broadcast { from = %q, to = "/srv/app/", excludes = { ".git" }, branches = %d }
%s`, mode, app+"/", branches, extra))
	}
	// The source as it must land: without the excluded .git.
	want := func() string {
		t.Helper()
		cp := filepath.Join(t.TempDir(), "want")
		if out, err := exec.Command("cp", "-a", app, cp).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
		os.RemoveAll(filepath.Join(cp, ".git"))
		return bcLocalManifest(t, cp)
	}
	// gen1 is the first host of the broadcast tree with branches 2: it relays to
	// a subtree of 9 hosts.
	gen1 := hosts[0]
	below := hostTree(t, hosts, 2).Root.Children[0]
	var subtree []string
	for _, n := range below.Children {
		subtree = append(subtree, n.Name())
		for _, m := range n.Children {
			subtree = append(subtree, m.Name())
			for _, k := range m.Children {
				subtree = append(subtree, k.Name())
			}
		}
	}

	t.Run("standalone", func(t *testing.T) {
		r := runGrifork(t, dir, "-f", gf("", 2, ""))
		if r.code != 0 || !strings.Contains(r.stdout, "20 ok") {
			t.Fatalf("exit %d", r.code)
		}
		bcCheck(t, f, hosts, want())
		noLeftovers(t, f, 10*time.Second)
	})

	t.Run("cold start: the binary travels along the tree", func(t *testing.T) {
		forEachHost(t, hosts, func(h string) error {
			_, err := f.Exec(context.Background(), h, "rm", "-rf", "/tmp/grifork-0")
			return err
		})
		rewrite(t, filepath.Join(app, "lib/mod00/pkg1/file07.bin"), 4000)
		logf := filepath.Join(dir, "cold.log")
		r := runGrifork(t, dir, "-f", gf(fmt.Sprintf("log { file = %q, level = \"info\" }", logf), 2, ""))
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		bcCheck(t, f, hosts, want())
		b, err := os.ReadFile(logf)
		if err != nil {
			t.Fatal(err)
		}
		log := string(b)
		// The root ships to its 2 children, every other host gets it from a relay.
		if n, m := strings.Count(log, "shipping grifork binary"), strings.Count(log, "grifork seeded"); n != 2 || m != len(hosts)-2 || strings.Contains(log, "seeding grifork failed") {
			t.Errorf("the root shipped grifork %d times and %d hosts were seeded by a relay; want 2 and %d:\n%s", n, m, len(hosts)-2, log)
		}
		forEachHost(t, hosts, func(h string) error {
			dir, err := f.HostPath(h, "/tmp/grifork-0")
			if err != nil {
				return err
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				return err
			}
			var bins []string
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), "grifork-") {
					bins = append(bins, e.Name())
				}
			}
			if len(bins) != 1 {
				return fmt.Errorf("%s holds %v, want one cached binary", dir, bins)
			}
			return nil
		})
		noLeftovers(t, f, 10*time.Second)
	})

	t.Run("grifork mode after changes at the source", func(t *testing.T) {
		if err := os.Remove(filepath.Join(app, "lib/mod00/pkg0/file00.bin")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(app, "run.sh"), []byte("#!/bin/sh\necho changed\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(app, "new/dir"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(app, "new/dir/added"), []byte("added\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// Edge blocks run after the broadcast, on every host it reached.
		r := runGrifork(t, dir, "-f", gf(`mode "grifork"
grifork { tmpdir = "/tmp/grifork-e2e", chdir = "/tmp" }`, 1, `
locally(function(src, dst) ssh(dst, "touch", { "/srv/after-broadcast" }) end)
remote(function(src, dst) ssh(dst, "touch", { "/srv/after-broadcast" }) end)`))
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		bcCheck(t, f, hosts, want())
		forEachHost(t, hosts, func(h string) error {
			p, _ := f.HostPath(h, "/srv/after-broadcast")
			_, err := os.Stat(p)
			return err
		})
		noLeftovers(t, f, 10*time.Second)
	})

	t.Run("an update: changed, deleted and added files, a tampered host, an empty host", func(t *testing.T) {
		// First the changes alone: the stream carries them, not the tree.
		rewrite(t, filepath.Join(app, "lib/mod01/pkg1/file01.bin"), 3000)
		if err := os.Remove(filepath.Join(app, "lib/mod02/pkg2/file02.bin")); err != nil {
			t.Fatal(err)
		}
		rewrite(t, filepath.Join(app, "lib/mod03/added.bin"), 5000)
		report := filepath.Join(dir, "update.json")
		before := relayLogins(t, f, hosts)
		r := runGrifork(t, dir, "-f", gf("", 2, ""), "--report", report)
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		bcCheck(t, f, hosts, want())
		// Over direct streams, with every host cached, a relay needs no SSH
		// connection to its children: each host's sshd sees the root's alone.
		if after := relayLogins(t, f, hosts); after != before {
			t.Errorf("the relays logged in to other hosts %d times during a direct, warm run; want none", after-before)
		}
		for h, b := range bcReport(t, report) {
			if b.Kind != "update" || b.Written != 3000+5000 || b.Received > 1<<20 {
				t.Errorf("%s: %s, wrote %d bytes, received %d; want an update of 8000 bytes in less than 1 MiB", h, b.Kind, b.Written, b.Received)
			}
			if b.Stream != "direct" {
				t.Errorf("%s: its stream came over %q; want direct (the default, every host reachable)", h, b.Stream)
			}
		}

		// Then more changes, with one host changed by hand and one emptied.
		rewrite(t, filepath.Join(app, "lib/mod04/pkg1/file04.bin"), 2000)
		if err := os.Remove(filepath.Join(app, "lib/mod05/pkg2/file05.bin")); err != nil {
			t.Fatal(err)
		}
		rewrite(t, filepath.Join(app, "added at the top"), 100)
		tampered, empty := hosts[7], hosts[12]
		tp, _ := f.HostPath(tampered, "/srv/app")
		// Same size, new content, new mtime: the hashes decide.
		rewrite(t, filepath.Join(tp, "lib/mod06/pkg0/file06.bin"), 7<<10)
		if err := os.Remove(filepath.Join(tp, "run.sh")); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(tp, "empty"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tp, "lib/stray"), []byte("not in the source\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		ep, _ := f.HostPath(empty, "/srv/app")
		if err := os.RemoveAll(ep); err != nil {
			t.Fatal(err)
		}
		r = runGrifork(t, dir, "-f", gf("", 2, ""), "--report", report)
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		bcCheck(t, f, hosts, want())
		total := treeSize(t, app)
		for h, b := range bcReport(t, report) {
			switch h {
			case empty:
				if b.Kind != "full" || b.Written != total {
					t.Errorf("the empty host %s: %s, wrote %d bytes; want full, %d", h, b.Kind, b.Written, total)
				}
			case tampered:
				if b.Kind != "update" || b.Written != 2000+100+7<<10+int64(len("#!/bin/sh\necho changed\n")) {
					t.Errorf("the tampered host %s: %s, wrote %d bytes", h, b.Kind, b.Written)
				}
			default:
				if b.Kind != "update" || b.Written != 2000+100 {
					t.Errorf("%s: %s, wrote %d bytes; want an update of 2100", h, b.Kind, b.Written)
				}
			}
		}

		// Nothing changed: only the manifest travels.
		r = runGrifork(t, dir, "-f", gf("", 2, ""), "--report", report)
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		for h, b := range bcReport(t, report) {
			if b.Kind != "current" || b.Written != 0 || b.Received > 64<<10 {
				t.Errorf("%s: %s, wrote %d bytes, received %d; want current, nothing written, the manifest received", h, b.Kind, b.Written, b.Received)
			}
		}
		noLeftovers(t, f, 10*time.Second)
	})

	// Where the direct stream is off or its port cannot be reached, the SSH
	// forward carries the stream: every host still ends verified.
	t.Run("direct stream off, or its port unreachable: the SSH forward", func(t *testing.T) {
		report := filepath.Join(dir, "fallback.json")
		noDirect := fleetFile(t, dir, f, hosts, 3, fmt.Sprintf(`broadcast { from = %q, to = "/srv/app/", excludes = { ".git" }, branches = 2, direct = false }`, app+"/"))
		rewrite(t, filepath.Join(app, "big.bin"), 20<<20)
		r := runGrifork(t, dir, "-f", noDirect, "--report", report)
		if r.code != 0 {
			t.Fatalf("direct = false: exit %d", r.code)
		}
		bcCheck(t, f, hosts, want())
		for h, b := range bcReport(t, report) {
			if b.Stream != "ssh" || b.Written != 20<<20 {
				t.Errorf("direct = false: %s: stream %q, wrote %d; want ssh, %d", h, b.Stream, b.Written, 20<<20)
			}
		}

		// The hook tells gen1's parent (the root) and a relay's child
		// (hosts[4], below hosts[1]) a port nothing listens on: their
		// parents' direct dials fail and they fall back.
		closed := []string{gen1, hosts[4]}
		rewrite(t, filepath.Join(app, "big.bin"), 20<<20)
		logf := filepath.Join(dir, "fallback.log")
		r = runGriforkEnv(t, dir, []string{node.DirectClosedEnv + "=" + strings.Join(closed, ",")},
			"-f", gf(fmt.Sprintf("log { file = %q, level = \"debug\" }", logf), 2, ""), "--report", report)
		if r.code != 0 {
			t.Fatalf("unreachable ports: exit %d", r.code)
		}
		bcCheck(t, f, hosts, want())
		for h, b := range bcReport(t, report) {
			want := "direct"
			if h == closed[0] || h == closed[1] {
				want = "ssh"
			}
			if b.Stream != want || b.Written != 20<<20 {
				t.Errorf("unreachable ports: %s: stream %q, wrote %d; want %s, %d", h, b.Stream, b.Written, want, 20<<20)
			}
		}
		lb, err := os.ReadFile(logf)
		if err != nil {
			t.Fatal(err)
		}
		// The root's own fallback, in its log by name (hosts[4]'s parent says
		// so in its relay's, which the root logs at debug).
		if l := string(lb); !strings.Contains(l, "no direct stream, using the SSH forward") || !strings.Contains(l, gen1) {
			t.Errorf("the log does not say which host's stream fell back:\n%s", l)
		}

		// A host behind a firewall that drops all but SSH: its parent's dial
		// gets no answer, and neither do its own dials to its children (their
		// answers are dropped on the way in). All three take the SSH forward
		// within the dial's bound; every host ends verified.
		walled := hosts[1]
		tree := hostTree(t, hosts, 2)
		viaSSH := map[string]bool{walled: true}
		tree.Walk(func(n *core.Node) {
			if !n.IsRoot() && !n.Parent.IsRoot() && n.Parent.Name() == walled {
				viaSSH[n.Name()] = true
			}
		})
		if len(viaSSH) < 2 {
			t.Fatalf("%s has no children in the tree: the test needs a relay", walled)
		}
		undo, err := f.AllowOnlySSH(walled)
		if err != nil {
			t.Fatal(err)
		}
		defer undo()
		rewrite(t, filepath.Join(app, "big.bin"), 20<<20)
		logw := filepath.Join(dir, "firewall.log")
		r = runGrifork(t, dir, "-f", gf(fmt.Sprintf("log { file = %q, level = \"debug\" }", logw), 2, ""), "--report", report)
		if r.code != 0 {
			t.Fatalf("a firewalled host: exit %d", r.code)
		}
		if err := undo(); err != nil {
			t.Fatal(err)
		}
		bcCheck(t, f, hosts, want())
		for h, b := range bcReport(t, report) {
			want := "direct"
			if viaSSH[h] {
				want = "ssh"
			}
			if b.Stream != want || b.Written != 20<<20 {
				t.Errorf("a firewalled host: %s: stream %q, wrote %d; want %s, %d", h, b.Stream, b.Written, want, 20<<20)
			}
		}
		lw, err := os.ReadFile(logw)
		if err != nil {
			t.Fatal(err)
		}
		// No answer, not a refusal: the dial's own bound ended it.
		if l := string(lw); !strings.Contains(l, "no direct stream, using the SSH forward") || !strings.Contains(l, walled) || !strings.Contains(l, "timeout") {
			t.Errorf("the log does not say that the direct dial to %s timed out:\n%s", walled, l)
		}
		noLeftovers(t, f, 10*time.Second)
	})

	t.Run("a corrupted frame in an update fails and replaces nothing", func(t *testing.T) {
		before := want()
		if err := os.WriteFile(filepath.Join(app, "run.sh"), []byte("#!/bin/sh\necho again\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		// The corruption hook strikes deep in the stream: the update carries a large file.
		rewrite(t, filepath.Join(app, "big.bin"), 50<<20)
		bad := hosts[5]
		r := runGriforkEnv(t, dir, []string{node.CorruptEnv + "=" + bad}, "-f", gf("", 2, ""))
		if r.code != 1 || !strings.Contains(r.stdout, bad+" (") || !strings.Contains(r.stdout, "SHA-256 mismatch") {
			t.Fatalf("exit %d, want 1 with %s failed for a SHA-256 mismatch", r.code, bad)
		}
		bcCheck(t, f, except(hosts, bad), want())
		bcCheck(t, f, []string{bad}, before)
		noLeftovers(t, f, 10*time.Second)
	})

	kill := func(t *testing.T, heal bool) {
		// Each run must send something new, or nothing shows what was lost.
		if err := os.WriteFile(filepath.Join(app, "run.sh"), []byte(fmt.Sprintf("#!/bin/sh\necho %v\n", heal)), 0o755); err != nil {
			t.Fatal(err)
		}
		rewrite(t, filepath.Join(app, "big.bin"), 50<<20) // the stream must be long enough to kill a relay mid-way
		args := []string{"-f", gf("", 2, "")}
		if heal {
			args = append(args, "--heal")
		}
		run := startGrifork(t, dir, args...)
		syscall.Kill(waitRelay(t, f, gen1, 8<<20, run), syscall.SIGKILL)
		select {
		case <-run.exited:
		case <-time.After(2 * time.Minute):
			t.Fatalf("still running 2 minutes after the relay was killed:\n%s", run.out.String())
		}
		out := run.out.String()
		t.Logf("output:\n%s", out)
		if code := run.cmd.ProcessState.ExitCode(); code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		if !strings.Contains(out, gen1+" (0.0-1.0) broadcast: relay killed") {
			t.Fatalf("the killed relay %s is not reported as killed", gen1)
		}
		if heal {
			bcCheck(t, f, except(hosts, gen1), want())
		} else {
			for _, h := range subtree {
				if !strings.Contains(out, h+" (") {
					t.Errorf("%s below the killed relay is not reported", h)
				}
			}
			if !strings.Contains(out, "its source "+gen1+" failed mid-stream") {
				t.Errorf("the hosts below do not name the killed relay as their reason")
			}
			bcCheck(t, f, except(except(hosts, gen1), subtree...), want())
		}
		noLeftovers(t, f, 15*time.Second)
	}
	t.Run("relay killed mid-stream", func(t *testing.T) { kill(t, false) })
	t.Run("relay killed mid-stream, healed", func(t *testing.T) { kill(t, true) })

	t.Run("interrupt", func(t *testing.T) {
		rewrite(t, filepath.Join(app, "big.bin"), 50<<20)
		run := startGrifork(t, dir, "-f", gf("", 1, ""))
		waitRelay(t, f, hosts[3], 4<<20, run)
		code, took := run.interrupt(t, 15*time.Second)
		if code != 130 || took > 8*time.Second {
			t.Fatalf("exit %d after %v, want 130 within a few seconds", code, took)
		}
		noLeftovers(t, f, 15*time.Second)
	})

	t.Run("a named pipe in the source is refused before anything is sent", func(t *testing.T) {
		before := bcManifests(t, f, hosts)
		fifo := filepath.Join(app, "lib", "pipe")
		if err := syscall.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(fifo)
		r := runGrifork(t, dir, "-f", gf("", 1, ""))
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, fifo+": a named pipe") {
			t.Fatalf("exit %d, want 1 naming %s", r.code, fifo)
		}
		for h, m := range bcManifests(t, f, hosts) {
			if m != before[h] {
				t.Errorf("%s changed although nothing was to be sent", h)
			}
		}
		noLeftovers(t, f, 5*time.Second)
	})
}

// relayLogins counts the SSH logins to hosts from other hosts of the fleet
// (relays), over the whole of each sshd's log.
func relayLogins(t *testing.T, f *fleet.Fleet, hosts []string) int {
	t.Helper()
	n := 0
	for _, h := range hosts {
		got, err := f.AcceptedConnections(h)
		if err != nil {
			t.Fatal(err)
		}
		for from, k := range got {
			if from != f.RootAddr() {
				n += k
			}
		}
	}
	return n
}
