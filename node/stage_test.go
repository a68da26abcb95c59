package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openStage claims to as a relay does and returns its stage, with the claim's
// lock let go at once: the tests that need the lock call claimHome.
func openStage(t testing.TB, to string, single bool, name string, excludes []string, del bool) (*stage, error) {
	t.Helper()
	c, err := claimHome(to, single, name, strings.Repeat("a", 16), "test")
	if err != nil {
		return nil, err
	}
	c.f.Close()
	return newStage(c, excludes, del)
}

// deliver does on one host what a broadcast of src does, into st: the
// manifest (through its encoding), the host's needs, the contents the root
// sends for them, and the commit under ctx (or the abort).
func deliver(ctx context.Context, t *testing.T, st *stage, src string, checksum bool) error {
	t.Helper()
	return deliverWith(ctx, t, st, src, checksum, nil)
}

// encodeSource scans src as the root does: its list and encoded manifest.
func encodeSource(tb testing.TB, src string, checksum bool) ([]entry, []byte) {
	tb.Helper()
	list, _, err := scanSource(src, nil)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := newManifest(list, checksum)
	if err != nil {
		tb.Fatal(err)
	}
	enc, err := m.encode()
	if err != nil {
		tb.Fatal(err)
	}
	return list, enc
}

// deliverWith is deliver with before, if not nil, run between the receive and
// the commit.
func deliverWith(ctx context.Context, t *testing.T, st *stage, src string, checksum bool, before func()) error {
	t.Helper()
	list, enc := encodeSource(t, src, checksum)
	err := func() error {
		m, err := readManifest(bytes.NewReader(enc), st.single)
		if err != nil {
			return err
		}
		v, err := st.plan(m)
		if err != nil {
			return err
		}
		send := make([]bool, len(list))
		if err := addNeeds(list, send, v.ranges(needContent), v.checks, map[int]string{}); err != nil {
			return err
		}
		var b bytes.Buffer
		if err := writeContents(&b, list, send); err != nil {
			t.Fatal(err)
		}
		if err := st.receive(&b); err != nil {
			return err
		}
		if before != nil {
			before()
		}
		return st.commit(ctx)
	}()
	if err != nil {
		st.abort()
	}
	return err
}

// TestStageDestinationTypes covers every pairing of the source's type with
// what the destination holds: a file goes into an existing directory (as cp,
// scp and rsync put it), nothing the user did not name is removed, and what is
// ambiguous is refused before anything is written, naming the path.
func TestStageDestinationTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, d string) // d is the host's view of /srv
		single bool
		to     string // relative to d; a trailing slash is kept
		del    bool
		// lands is where the file's content must be after commit ("" when refused).
		lands   string
		refused string // part of the error when refused
		kept    []string
	}{
		{name: "file onto an existing directory goes inside it", single: true, to: "appdir", del: true,
			setup: func(t *testing.T, d string) { write(t, d, "appdir/keep.txt", "keep") },
			lands: "appdir/one.conf", kept: []string{"appdir/keep.txt"}},
		{name: "file onto an existing directory with a slash goes inside it", single: true, to: "appdir/",
			setup: func(t *testing.T, d string) { write(t, d, "appdir/keep.txt", "keep") },
			lands: "appdir/one.conf", kept: []string{"appdir/keep.txt"}},
		{name: "file onto a missing path with a slash makes the directory", single: true, to: "new/",
			lands: "new/one.conf"},
		{name: "file onto a missing path lands at it", single: true, to: "x.conf", lands: "x.conf"},
		{name: "file onto a file replaces it", single: true, to: "x.conf",
			setup: func(t *testing.T, d string) { write(t, d, "x.conf", "old") }, lands: "x.conf"},
		{name: "file onto a link to a directory is refused", single: true, to: "link",
			setup: func(t *testing.T, d string) {
				write(t, d, "real/keep.txt", "keep")
				symlink(t, "real", filepath.Join(d, "link"))
			},
			refused: "/link is a symbolic link", kept: []string{"real/keep.txt", "link"}},
		{name: "file onto a link to a file is refused", single: true, to: "link",
			setup: func(t *testing.T, d string) {
				write(t, d, "real.conf", "keep")
				symlink(t, "real.conf", filepath.Join(d, "link"))
			},
			refused: "is a symbolic link", kept: []string{"real.conf", "link"}},
		{name: "file into a directory that holds a directory of its name is refused", single: true, to: "appdir",
			setup:   func(t *testing.T, d string) { write(t, d, "appdir/one.conf/keep.txt", "keep") },
			refused: "/appdir/one.conf is a directory", kept: []string{"appdir/one.conf/keep.txt"}},
		{name: "directory onto a file is refused", to: "x.conf",
			setup:   func(t *testing.T, d string) { write(t, d, "x.conf", "keep") },
			refused: "/x.conf exists and is not a directory", kept: []string{"x.conf"}},
		{name: "directory onto a link is refused", to: "link", del: true,
			setup: func(t *testing.T, d string) {
				write(t, d, "real/keep.txt", "keep")
				symlink(t, "real", filepath.Join(d, "link"))
			},
			refused: "/link is a symbolic link", kept: []string{"real/keep.txt", "link"}},
		{name: "directory onto a directory merges", to: "appdir",
			setup: func(t *testing.T, d string) { write(t, d, "appdir/keep.txt", "keep") },
			lands: "appdir/f", kept: []string{"appdir/keep.txt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, d)
			}
			to := filepath.Join(d, tc.to)
			if strings.HasSuffix(tc.to, "/") {
				to += "/"
			}
			src := t.TempDir()
			write(t, src, "f", "f\n")
			write(t, src, "one.conf", "new\n")
			st, err := openStage(t, to, tc.single, "one.conf", nil, tc.del)
			if err == nil {
				if tc.single {
					err = deliver(t.Context(), t, st, filepath.Join(src, "one.conf"), false)
				} else {
					os.Remove(filepath.Join(src, "one.conf"))
					err = deliver(t.Context(), t, st, src, false)
				}
			}
			switch {
			case tc.refused != "":
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Errorf("error %v, want one containing %q", err, tc.refused)
				}
			case err != nil:
				t.Fatalf("error %v", err)
			default:
				want := "f\n"
				if tc.single {
					want = "new\n"
				}
				if b, err := os.ReadFile(filepath.Join(d, tc.lands)); err != nil || string(b) != want {
					t.Errorf("%s holds %q, %v; want %q", tc.lands, b, err, want)
				}
			}
			for _, k := range tc.kept {
				if _, err := os.Lstat(filepath.Join(d, k)); err != nil {
					t.Errorf("%s is gone: %v", k, err)
				}
			}
			ents, _ := filepath.Glob(filepath.Join(d, "*", stagePrefix+"*"))
			top, _ := filepath.Glob(filepath.Join(d, stagePrefix+"*"))
			if len(ents)+len(top) > 0 {
				t.Errorf("staging left behind: %v %v", ents, top)
			}
		})
	}
}

func write(t *testing.T, dir, rel, data string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// Two runs into the same place (issue 17): the second is refused in one line
// naming the first, and neither removes the other's staging directory; once the
// first has ended (killed, here: its claim dropped without cleaning up), the
// next claims the place and removes what the first left.
func TestClaimHome(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	to := filepath.Join(d, "app")
	first, err := claimHome(to, false, "", strings.Repeat("a", 16), "root1")
	if err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(to, stagePrefix+strings.Repeat("a", 12))
	_, err = claimHome(to+"/", false, "", strings.Repeat("b", 16), "root2")
	want := fmt.Sprintf("%s is taken by another grifork broadcast (relay pid %d, started ", to, os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "from host root1)") {
		t.Fatalf("second claim: %v, want a refusal naming the first run (%q)", err, want)
	}
	// A file into the same directory stages there too.
	if _, err := claimHome(filepath.Join(to, "x.conf"), true, "x.conf", strings.Repeat("c", 16), "root3"); err == nil {
		t.Fatal("a file into the claimed directory was not refused")
	}
	if _, err := os.Stat(mine); err != nil {
		t.Fatalf("the refused runs touched the first's staging directory: %v", err)
	}
	// The claiming run stages in its own staging directory.
	st, err := newStage(first, nil, false)
	if err != nil || st.dir != mine {
		t.Fatalf("newStage: %v, dir %q, want %q", err, st.dir, mine)
	}
	first.f.Close() // the kernel's release of a killed relay's lock
	// The lock goes with the last copy of the descriptor: a process that
	// another test forks meanwhile holds one until it execs (O_CLOEXEC).
	var next *claim
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if next, err = claimHome(to, false, "", strings.Repeat("d", 16), "root4"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer next.release(false)
	if _, err := os.Stat(mine); !os.IsNotExist(err) {
		t.Errorf("the stale staging directory is still there: %v", err)
	}
}

// A claim on a destination that did not exist makes it, and removes it again
// when the run did not commit.
func TestClaimHomeMadeDirectory(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	to := filepath.Join(d, "a", "b")
	c, err := claimHome(to, false, "", strings.Repeat("a", 16), "root")
	if err != nil {
		t.Fatal(err)
	}
	c.release(false)
	if _, err := os.Stat(filepath.Join(d, "a")); !os.IsNotExist(err) {
		t.Errorf("%s made for the claim is still there: %v", filepath.Join(d, "a"), err)
	}
}

// A commit stopped between two paths (Ctrl-C) says how far it got: the paths
// it changes before the stop hold their new content, the others their old one.
func TestCommitStopped(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	write(t, d, "app/f", "old\n")
	src := t.TempDir()
	old := time.Unix(1e9, 0)
	for _, name := range []string{"a", "f", "z"} {
		write(t, src, name, "new\n")
		os.Chtimes(filepath.Join(src, name), old, old)
	}
	os.Chtimes(src, old, old)
	st, err := openStage(t, filepath.Join(d, "app"), false, "", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	// The stop comes before the third path: ".", then a, are done.
	err = deliver(&stopAfter{Context: context.Background(), n: 2}, t, st, src, false)
	want := "commit stopped: context canceled: 2 of 4 changed paths under " + filepath.Join(d, "app") + " have their new content (up to a, in the stream's order), the others their old one; nothing removed"
	if err == nil || err.Error() != want {
		t.Fatalf("commit: %v\nwant %s", err, want)
	}
	for name, content := range map[string]string{"a": "new\n", "f": "old\n"} {
		if b, _ := os.ReadFile(filepath.Join(d, "app", name)); string(b) != content {
			t.Errorf("%s holds %q, want %q", name, b, content)
		}
	}
	if _, err := os.Stat(filepath.Join(d, "app", "z")); !os.IsNotExist(err) {
		t.Errorf("z, after the stop, is there: %v", err)
	}
}

// stopAfter is a context that is done from its n+1th Err on: a stop that comes
// after n paths, whatever the machine's speed.
type stopAfter struct {
	context.Context
	n int
}

func (c *stopAfter) Err() error {
	if c.n == 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

// The claim's staging directory changes the destination's mtime: the stage
// compares with the destination as it was when claimed, so a run that changes
// nothing says so.
func TestClaimKeepsDestinationAsItWas(t *testing.T) {
	t.Parallel()
	src, to := t.TempDir(), filepath.Join(t.TempDir(), "app")
	write(t, src, "f", "f\n")
	old := time.Unix(1e9, 0)
	os.Chtimes(src, old, old)
	st, err := openStage(t, to, false, "", nil, false)
	if err == nil {
		err = deliver(t.Context(), t, st, src, false)
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := claimHome(to, false, "", strings.Repeat("b", 16), "root")
	if err != nil {
		t.Fatal(err)
	}
	defer c.release(false)
	st, err = newStage(c, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := deliver(t.Context(), t, st, src, false); err != nil {
		t.Fatal(err)
	}
	if k := st.kind(); k != "current" {
		t.Errorf("a second run of the same source: %s, want current", k)
	}
}

// A directory the host lacks (or holds another type at) is staged whole and
// renamed into place at once, with everything below it (many small files: one
// rename, not one a file); what the host holds keeps the per-path commit. Each
// case checks which directories went whole and that the host ends with exactly
// the source, excluded paths spared.
func TestStageWholeDirectories(t *testing.T) {
	t.Parallel()
	source := func(t *testing.T, src string) {
		write(t, src, "f", "f\n")
		write(t, src, "lib/a", "a\n")
		write(t, src, "lib/sub/b", "b\n")
		write(t, src, "lib/sub/shared", "open to all\n")
		chmod(t, src, "lib/sub/shared", 0o666) // more than the umask lets a new file have
		write(t, src, "lib/sub/suid", "s\n")
		chmod(t, src, "lib/sub/suid", 0o4755)
		write(t, src, "lib/ro/c", "c\n")
		symlink(t, "../a", filepath.Join(src, "lib/sub/link"))
		chmod(t, src, "lib/ro", 0o555)
	}
	for _, tc := range []struct {
		name     string
		host     func(t *testing.T, host string) // before the run; nil: nothing at all
		src      func(t *testing.T, src string)  // after source
		excludes []string
		whole    []string // the directories renamed whole
		kept     []string // host paths the excludes spare
		gone     []string // host paths delete removes
	}{
		{name: "a host holding nothing gets every directory whole",
			whole: []string{"lib"}},
		{name: "an empty destination gets every directory whole",
			host:  func(t *testing.T, host string) { mkdir(t, host) },
			whole: []string{"lib"}},
		{name: "a partially present tree: only the new directories go whole",
			host: func(t *testing.T, host string) {
				write(t, host, "lib/a", "old a\n")
				write(t, host, "lib/stray", "x\n")
			},
			src:   func(t *testing.T, src string) { write(t, src, "lib/new/deep/y", "y\n") },
			whole: []string{"lib/new", "lib/ro", "lib/sub"}, gone: []string{"lib/stray"}},
		{name: "a file where the source has a directory is replaced by it whole",
			host:  func(t *testing.T, host string) { write(t, host, "lib", "a file\n") },
			whole: []string{"lib"}},
		{name: "a link where the source has a directory is replaced, its target untouched",
			host: func(t *testing.T, host string) {
				write(t, host, "../elsewhere/keep", "keep\n")
				mkdir(t, host)
				symlink(t, "../elsewhere", filepath.Join(host, "lib"))
			},
			whole: []string{"lib"}},
		{name: "excludes with delete: spared beside whole directories",
			host: func(t *testing.T, host string) {
				write(t, host, "lib/keep.log", "kept\n")
				write(t, host, "lib/stray", "x\n")
				write(t, host, "cache/big", "kept\n")
			},
			excludes: []string{"*.log", "/cache/"},
			whole:    []string{"lib/ro", "lib/sub"}, kept: []string{"lib/keep.log", "cache"}, gone: []string{"lib/stray"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, host := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "a", "host")
			source(t, src)
			if tc.src != nil {
				tc.src(t, src)
			}
			if tc.host != nil {
				tc.host(t, host)
			}
			st, err := openStage(t, host, false, "", tc.excludes, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := deliver(t.Context(), t, st, src, false); err != nil {
				t.Fatal(err)
			}
			var whole []string
			for i, e := range st.m.Entries {
				if int(st.v.tree[i]) == i {
					whole = append(whole, e.Rel)
				}
			}
			if fmt.Sprint(whole) != fmt.Sprint(tc.whole) {
				t.Errorf("renamed whole: %v, want %v", whole, tc.whole)
			}
			for _, k := range tc.kept {
				if _, err := os.Lstat(filepath.Join(host, k)); err != nil {
					t.Errorf("excluded %s is gone: %v", k, err)
				}
				rm(t, host, k)
			}
			for _, g := range tc.gone {
				if _, err := os.Lstat(filepath.Join(host, g)); !os.IsNotExist(err) {
					t.Errorf("%s, not in the source, is still there: %v", g, err)
				}
			}
			// Removing what the excludes spared changed its directories' mtimes.
			for _, d := range []string{src, host} {
				touch(t, d, ".", time.Unix(1e9, 0))
				touch(t, d, "lib", time.Unix(1e9, 0))
			}
			sameTree(t, src, host)
			if tc.host != nil && strings.HasPrefix(tc.name, "a link") {
				if b, err := os.ReadFile(filepath.Join(host, "../elsewhere/keep")); string(b) != "keep\n" {
					t.Errorf("the link's target holds %q, %v; want it untouched", b, err)
				}
			}
		})
	}
}

// A path that changes type and back, each time with a whole directory where
// the host had a file.
func TestStageTypeRoundTrip(t *testing.T) {
	t.Parallel()
	src, host := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "host")
	for step, change := range []func(){
		func() { write(t, src, "x", "a file\n") },
		func() {
			rm(t, src, "x")
			write(t, src, "x/y/z", "now a tree\n")
			symlink(t, "y/z", filepath.Join(src, "x/l"))
		},
		func() { rm(t, src, "x"); write(t, src, "x", "a file again\n") },
		func() { rm(t, src, "x"); write(t, src, "x/y", "and a tree\n") },
	} {
		change()
		st, err := openStage(t, host, false, "", nil, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := deliver(t.Context(), t, st, src, false); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		touch(t, src, ".", time.Unix(1e9, 0))
		touch(t, host, ".", time.Unix(1e9, 0))
		sameTree(t, src, host)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

// As root, a staged file gets the source's owner on its open descriptor,
// unless creating it already gave it that one; a chown clears setuid, which
// the mode then sets again.
func TestStageOwners(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	src, host := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "host")
	write(t, src, "mine", "root's\n")
	write(t, src, "new/theirs", "theirs\n")
	write(t, src, "new/suid", "suid\n")
	for _, p := range []string{"new/theirs", "new/suid"} {
		if err := os.Lchown(filepath.Join(src, p), 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	chmod(t, src, "new/suid", 0o6755)
	st, err := openStage(t, host, false, "", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := deliver(t.Context(), t, st, src, false); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, host)
	for p, want := range map[string][2]uint32{"mine": {0, 0}, "new/theirs": {1234, 5678}, "new/suid": {1234, 5678}} {
		var s unix.Stat_t
		if err := unix.Lstat(filepath.Join(host, p), &s); err != nil || s.Uid != want[0] || s.Gid != want[1] {
			t.Errorf("%s: owner %d:%d, %v; want %d:%d", p, s.Uid, s.Gid, err, want[0], want[1])
		}
	}
}

// A destination with a default ACL: what is created below it gets its mode
// from the ACL, not from the umask, so every file and directory still ends
// with the source's mode (rsync -a's -p).
func TestStageDefaultACL(t *testing.T) {
	t.Parallel()
	src, host := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "host")
	write(t, src, "f", "f\n")
	write(t, src, "lib/a", "a\n")
	for _, rel := range []string{"f", "lib/a"} {
		chmod(t, src, rel, 0o644)
	}
	mkdir(t, host)
	// user::rwx group::r-x other::--- as the default ACL (acl_ea format
	// version 2: tag, perm, id per entry), what setfacl -d -m o::--- gives.
	acl := []byte{2, 0, 0, 0}
	for _, e := range [][2]uint16{{0x01, 7}, {0x04, 5}, {0x20, 0}} {
		acl = append(acl, byte(e[0]), byte(e[0]>>8), byte(e[1]), byte(e[1]>>8), 0xff, 0xff, 0xff, 0xff)
	}
	if err := unix.Setxattr(host, "system.posix_acl_default", acl, 0); err != nil {
		t.Skipf("no POSIX ACLs here: %v", err)
	}
	st, err := openStage(t, host, false, "", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := deliver(t.Context(), t, st, src, false); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"f", "lib/a"} {
		fi, err := os.Stat(filepath.Join(host, rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want -rw-r--r-- (the source's)", rel, fi.Mode().Perm())
		}
	}
}

// An entry whose type changes is exchanged with the old one in one step: the
// path holds the new entry, or, if the commit fails there, the old one, never
// neither (the old was removed before the rename). The failure is the staged
// entry removed before the commit.
func TestStageReplaceType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		old, new func(t *testing.T, dir string)
		check    string // a path of the new entry, then of the old one
		oldCheck string
	}{
		{"a directory for a file",
			func(t *testing.T, d string) { write(t, d, "x", "old\n") },
			func(t *testing.T, d string) { write(t, d, "x/y", "new\n") },
			"x/y", "x"},
		{"a directory for a link",
			func(t *testing.T, d string) { write(t, d, "f", "f\n"); symlink(t, "f", filepath.Join(d, "x")) },
			func(t *testing.T, d string) { write(t, d, "f", "f\n"); write(t, d, "x/y", "new\n") },
			"x/y", "x"},
		{"a file for a directory",
			func(t *testing.T, d string) { write(t, d, "x/y", "old\n") },
			func(t *testing.T, d string) { write(t, d, "x", "new\n") },
			"x", "x/y"},
	}
	for _, tt := range tests {
		for _, fail := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, failed %v", tt.name, fail), func(t *testing.T) {
				t.Parallel()
				src, host := t.TempDir(), filepath.Join(t.TempDir(), "host")
				tt.new(t, src)
				tt.old(t, host)
				st, err := openStage(t, host, false, "", nil, false)
				if err != nil {
					t.Fatal(err)
				}
				var before func()
				if fail {
					before = func() {
						for i, e := range st.m.Entries {
							if e.Rel == "x" {
								if err := os.RemoveAll(st.staged(i)); err != nil {
									t.Fatal(err)
								}
							}
						}
					}
				}
				err = deliverWith(t.Context(), t, st, src, false, before)
				oldHeld := func() bool { // the old x was a file or link, unless oldCheck is below it
					fi, err := os.Lstat(filepath.Join(host, tt.oldCheck))
					return err == nil && (tt.oldCheck != "x" || !fi.IsDir())
				}
				if !fail {
					if err != nil {
						t.Fatal(err)
					}
					if b, err := os.ReadFile(filepath.Join(host, tt.check)); err != nil || string(b) != "new\n" {
						t.Fatalf("%s holds %q, %v; want the new content", tt.check, b, err)
					}
					if oldHeld() {
						t.Fatalf("%s, of the old entry, is still there", tt.oldCheck)
					}
					return
				}
				if err == nil {
					t.Fatal("commit with its staged entry gone succeeded")
				}
				if !oldHeld() {
					t.Fatalf("commit failed (%v) and %s holds neither the old entry nor the new", err, filepath.Join(host, "x"))
				}
			})
		}
	}
}

// A commit that stops after a directory was renamed into place whole leaves
// it, and the directories below it, with the source's modes and times, as
// partial says ("new content"), not the staging's 0700.
func TestCommitStoppedWholeTree(t *testing.T) {
	t.Parallel()
	d := t.TempDir()
	write(t, d, "app/z", "old\n")
	src := t.TempDir()
	old := time.Unix(1e9, 0)
	write(t, src, "d/e/f", "new\n")
	write(t, src, "z", "new\n")
	modes := map[string]os.FileMode{"d": 0o751, "d/e": 0o755}
	for rel, mode := range modes {
		if err := os.Chmod(filepath.Join(src, rel), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range []string{"d/e/f", "d/e", "d", "z", "."} {
		os.Chtimes(filepath.Join(src, rel), old, old)
	}
	st, err := openStage(t, filepath.Join(d, "app"), false, "", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	// The stop comes before z: ".", then d with its tree, are done.
	err = deliver(&stopAfter{Context: context.Background(), n: 2}, t, st, src, false)
	if err == nil || !strings.Contains(err.Error(), "(up to d/e/f,") {
		t.Fatalf("commit: %v; want a stop after d", err)
	}
	for rel, mode := range modes {
		fi, err := os.Stat(filepath.Join(d, "app", rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode || !fi.ModTime().Equal(old) {
			t.Errorf("%s: mode %v, mtime %v; want %v, %v", rel, fi.Mode().Perm(), fi.ModTime(), mode, old)
		}
	}
}
