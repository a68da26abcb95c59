package node

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fileStream is the archive of a broadcast of one file holding data.
func fileStream(t *testing.T, data string) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: ".", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(1e9, 0)}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(data))
	tw.Close()
	return &b
}

// dirStream is the archive of a broadcast of a directory holding file "f".
func dirStream(t *testing.T) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: ".", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(1e9, 0)})
	tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2, ModTime: time.Unix(1e9, 0)})
	tw.Write([]byte("f\n"))
	tw.Close()
	return &b
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
			st, err := newStage(to, tc.single, "one.conf", nil, tc.del, strings.Repeat("a", 16))
			if err == nil {
				stream := dirStream(t)
				if tc.single {
					stream = fileStream(t, "new\n")
				}
				if err = st.receive(stream); err == nil {
					err = st.commit()
				}
				if err != nil {
					st.abort()
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
