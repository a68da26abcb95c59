package node

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestManifestCompare runs a broadcast of a source onto one host that holds a
// copy (or nothing, or a copy changed by hand) and checks what the host found
// it lacked, what came in the stream, what it wrote, and that it ends with
// exactly the source.
func TestManifestCompare(t *testing.T) {
	t.Parallel()
	later := time.Unix(2e9, 0)
	for _, tc := range []struct {
		name     string
		empty    bool // the host holds nothing before
		checksum bool
		change   func(t *testing.T, src, host string)
		want     map[string]need // needs after the stream; the others: needNone
		written  int64
		kind     string
		differs  bool // the host keeps a difference size and mtime cannot see
	}{
		{name: "a host holding nothing gets everything", empty: true, kind: "full", written: 3 + 4 + 4,
			want: map[string]need{".": needMeta, "sub": needMeta, "f": needStaged, "sub/g": needStaged, "sub/h": needStaged, "link": needMeta}},
		{name: "a host holding the source is current", kind: "current"},
		{name: "a file whose size changed", kind: "update", written: 7,
			change: func(t *testing.T, src, host string) { write(t, src, "f", "f grew\n") },
			want:   map[string]need{"f": needStaged}},
		{name: "a file removed by hand is repaired", kind: "update", written: 4,
			change: func(t *testing.T, src, host string) { rm(t, host, "sub/g") },
			want:   map[string]need{"sub": needMeta, "sub/g": needStaged}},
		{name: "a file modified by hand with its size kept is repaired", kind: "update", written: 4,
			change: func(t *testing.T, src, host string) { write(t, host, "sub/g", "G!\n\n") },
			want:   map[string]need{"sub/g": needStaged}},
		{name: "mtime-only change: the hashes decide, nothing is sent", kind: "update",
			change: func(t *testing.T, src, host string) { touch(t, src, "f", later) },
			want:   map[string]need{"f": needCheck}},
		{name: "mtime-only change with checksum: nothing is sent", checksum: true, kind: "update",
			change: func(t *testing.T, src, host string) { touch(t, src, "f", later) },
			want:   map[string]need{"f": needMeta}},
		{name: "same size and mtime, other content: unseen without checksum", kind: "current", differs: true,
			change: func(t *testing.T, src, host string) { rewriteKeepTime(t, src, "f", "F\n\n") }},
		{name: "same size and mtime, other content: sent with checksum", checksum: true, kind: "update", written: 3,
			change: func(t *testing.T, src, host string) { rewriteKeepTime(t, src, "f", "F\n\n") },
			want:   map[string]need{"f": needStaged}},
		{name: "permission-only change", kind: "update",
			change: func(t *testing.T, src, host string) { chmod(t, src, "sub/g", 0o600) },
			want:   map[string]need{"sub/g": needMeta}},
		{name: "directory permission change", kind: "update",
			change: func(t *testing.T, src, host string) { chmod(t, src, "sub", 0o700) },
			want:   map[string]need{"sub": needMeta}},
		{name: "file replaced by a directory", kind: "update", written: 2,
			change: func(t *testing.T, src, host string) { rm(t, src, "f"); write(t, src, "f/x", "x\n") },
			want:   map[string]need{".": needMeta, "f": needMeta, "f/x": needStaged}},
		{name: "directory replaced by a file", kind: "update", written: 4,
			change: func(t *testing.T, src, host string) { rm(t, src, "sub"); write(t, src, "sub", "now\n") },
			want:   map[string]need{".": needMeta, "sub": needStaged}},
		{name: "a directory the host replaced by a file is made again", kind: "update", written: 8,
			change: func(t *testing.T, src, host string) { rm(t, host, "sub"); write(t, host, "sub", "x") },
			want:   map[string]need{".": needMeta, "sub": needMeta, "sub/g": needStaged, "sub/h": needStaged}},
		{name: "a directory the host replaced by a link is made again, the link's target untouched", kind: "update", written: 8,
			change: func(t *testing.T, src, host string) {
				elsewhere := filepath.Join(filepath.Dir(host), "elsewhere")
				if err := os.Rename(filepath.Join(host, "sub"), elsewhere); err != nil {
					t.Fatal(err)
				}
				symlink(t, elsewhere, filepath.Join(host, "sub"))
			},
			want: map[string]need{".": needMeta, "sub": needMeta, "sub/g": needStaged, "sub/h": needStaged}},
		{name: "symlink retargeted", kind: "update",
			change: func(t *testing.T, src, host string) {
				rm(t, src, "link")
				symlink(t, "sub/h", filepath.Join(src, "link"))
			},
			want: map[string]need{".": needMeta, "link": needMeta}},
		{name: "file replaced by a symlink", kind: "update",
			change: func(t *testing.T, src, host string) { rm(t, src, "f"); symlink(t, "sub", filepath.Join(src, "f")) },
			want:   map[string]need{".": needMeta, "f": needMeta}},
		{name: "symlink replaced by a file", kind: "update", written: 2,
			change: func(t *testing.T, src, host string) { rm(t, src, "link"); write(t, src, "link", "l\n") },
			want:   map[string]need{".": needMeta, "link": needStaged}},
		{name: "deleted at the source, deleted on the host", kind: "update",
			change: func(t *testing.T, src, host string) { rm(t, src, "sub/h") },
			want:   map[string]need{"sub": needMeta}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, host := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "host")
			write(t, src, "f", "f\n\n")
			write(t, src, "sub/g", "g\n\n\n")
			write(t, src, "sub/h", "h\n\n\n")
			symlink(t, "f", filepath.Join(src, "link"))
			for _, p := range []string{"f", "sub/g", "sub/h", "sub", "."} {
				touch(t, src, p, time.Unix(1e9, 0))
			}
			if !tc.empty {
				st := newTestStage(t, host)
				if err := deliver(t.Context(), t, st, src, false); err != nil {
					t.Fatal(err)
				}
				sameTree(t, src, host)
			}
			if tc.change != nil {
				tc.change(t, src, host)
			}
			st := newTestStage(t, host)
			if err := deliver(t.Context(), t, st, src, tc.checksum); err != nil {
				t.Fatal(err)
			}
			for i, e := range st.m.Entries {
				if got, want := st.v.needs[i], tc.want[e.Rel]; got != want {
					t.Errorf("%s: need %d, want %d", e.Rel, got, want)
				}
			}
			if st.written != tc.written || st.kind() != tc.kind {
				t.Errorf("wrote %d bytes, %s; want %d, %s", st.written, st.kind(), tc.written, tc.kind)
			}
			if !tc.differs {
				sameTree(t, src, host)
			}
		})
	}
}

func newTestStage(t *testing.T, to string) *stage {
	t.Helper()
	st, err := openStage(t, to, false, "", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sameTree fails unless b holds what a holds: types, modes, mtimes, contents
// and link targets.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	if sa, sb := treeOf(t, a), treeOf(t, b); sa != sb {
		t.Fatalf("trees differ:\n%s\n--- want\n%s", sb, sa)
	}
}

func treeOf(t *testing.T, root string) string {
	t.Helper()
	var out strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&out, "%s %v %d", rel, fi.Mode(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&out, " %q", b)
		case fi.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&out, " -> %s", l)
		}
		out.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func rm(t *testing.T, dir, rel string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(dir, rel)); err != nil {
		t.Fatal(err)
	}
}

func touch(t *testing.T, dir, rel string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(filepath.Join(dir, rel), at, at); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, dir, rel string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(filepath.Join(dir, rel), mode); err != nil {
		t.Fatal(err)
	}
}

// rewriteKeepTime gives a file new content of the same size and its old mtime.
func rewriteKeepTime(t *testing.T, dir, rel, data string) {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, rel, data)
	touch(t, dir, rel, fi.ModTime())
}
