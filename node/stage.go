package node

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// stagePrefix names the directory where a node keeps what it received until
// the stream verified; a relay that was killed leaves one behind, which the next
// broadcast to the same place removes.
const stagePrefix = ".grifork-stage-"

// stage receives a broadcast into a staging directory next to its destination
// and makes it visible only on commit: each path under the destination then
// holds its old content or its new one, never a partial file.
type stage struct {
	to       string // the destination
	dir      string // the staging directory
	excludes *matcher
	delete   bool
	chown    bool // the receiving user may set owners (root)

	single  bool // the source is one file, landing at to
	items   []item
	buf     []byte   // for copying file contents: large writes
	created []string // directories made before commit, removed on abort if empty
}

type item struct {
	rel    string
	hdr    *tar.Header
	staged string // regular files and symlinks: their name in dir
}

// newStage prepares to receive into to: a directory (made if missing), or with
// single one file named name. A file lands inside to when to is a directory or
// is written as one (a trailing slash), as cp, scp and rsync put it, and at to
// otherwise; nothing the user did not name is replaced. A symbolic link at to
// is refused either way: following it or replacing it would both surprise.
// The staging directory goes inside the destination directory (for a file:
// into its directory), so that renames never cross a file system; token names it.
func newStage(to string, single bool, name string, excludes []string, del bool, token string) (*stage, error) {
	m, err := newMatcher(excludes)
	if err != nil {
		return nil, err
	}
	if single {
		if to, err = fileDestination(to, name); err != nil {
			return nil, err
		}
	}
	to = filepath.Clean(to)
	s := &stage{to: to, single: single, excludes: m, delete: del, chown: os.Geteuid() == 0, buf: make([]byte, 1<<20)}
	home := to
	if single {
		home = filepath.Dir(to)
	}
	if fi, err := os.Lstat(to); err == nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return nil, fmt.Errorf("destination %s is a symbolic link: name the path it points to", to)
		case single && fi.IsDir():
			return nil, fmt.Errorf("destination %s is a directory: the file would replace it", to)
		case !single && !fi.IsDir():
			return nil, fmt.Errorf("destination %s exists and is not a directory: the directory would replace it", to)
		}
	}
	if err := s.mkdirAll(home); err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	removeStale(home)
	s.dir = filepath.Join(home, stagePrefix+token[:12])
	if err := os.Mkdir(s.dir, 0o700); err != nil {
		s.abort()
		return nil, fmt.Errorf("staging directory: %w", err)
	}
	return s, nil
}

// fileDestination is where a file named name lands for to: inside to when to
// is a directory (a link is not followed: newStage refuses it), or ends in a slash
// (made if missing, as rsync does); at to otherwise.
func fileDestination(to, name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return "", fmt.Errorf("stream is corrupt: file name %q", name)
	}
	if strings.HasSuffix(to, "/") {
		return filepath.Join(to, name), nil
	}
	fi, err := os.Lstat(to)
	if err != nil || !fi.IsDir() {
		return to, nil
	}
	return filepath.Join(to, name), nil
}

// stageDirs are where a relay of the run with token may stage what it
// receives for to (for a file: beside to, or inside it when to is a directory).
func stageDirs(to string, single bool, token string) []string {
	to = filepath.Clean(to)
	in := filepath.Join(to, stagePrefix+token[:12])
	if !single {
		return []string{in}
	}
	return []string{filepath.Join(filepath.Dir(to), stagePrefix+token[:12]), in}
}

// removeStale removes staging directories that killed relays left in dir.
func removeStale(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), stagePrefix) && e.IsDir() {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

func (s *stage) mkdirAll(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		s.created = append(s.created, missing[i])
	}
	return nil
}

// receive reads the archive from r into the staging directory.
func (s *stage) receive(r io.Reader) error {
	tr := tar.NewReader(r)
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stream: %w", err)
		}
		rel := path.Clean(h.Name)
		if rel == ".." || strings.HasPrefix(rel, "../") || path.IsAbs(rel) {
			return fmt.Errorf("stream is corrupt: path %q leaves the destination", h.Name)
		}
		if i == 0 {
			if rel != "." {
				return fmt.Errorf("stream is corrupt: it starts with %q", h.Name)
			}
			if s.single != (h.Typeflag == tar.TypeReg) {
				return fmt.Errorf("stream is corrupt: %q has type %q", h.Name, h.Typeflag)
			}
		} else if rel == "." || s.single {
			return fmt.Errorf("stream is corrupt: unexpected %q", h.Name)
		}
		it := item{rel: rel, hdr: h}
		switch h.Typeflag {
		case tar.TypeReg:
			it.staged = filepath.Join(s.dir, strconv.Itoa(i))
			if err := s.writeFile(it.staged, h, tr); err != nil {
				return err
			}
		case tar.TypeSymlink:
			it.staged = filepath.Join(s.dir, strconv.Itoa(i))
			if err := os.Symlink(h.Linkname, it.staged); err != nil {
				return err
			}
			s.own(it.staged, h)
			unix.UtimesNanoAt(unix.AT_FDCWD, it.staged, mtimes(h.ModTime), unix.AT_SYMLINK_NOFOLLOW)
		case tar.TypeDir:
		default:
			return fmt.Errorf("stream is corrupt: %q has type %q", h.Name, h.Typeflag)
		}
		s.items = append(s.items, it)
	}
}

func (s *stage) writeFile(p string, h *tar.Header, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.CopyBuffer(struct{ io.Writer }{f}, r, s.buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(s.to, h.Name), err)
	}
	s.own(p, h)
	if err := os.Chmod(p, fs.FileMode(h.Mode).Perm()|modeBits(h.Mode)); err != nil {
		return err
	}
	return os.Chtimes(p, h.ModTime, h.ModTime)
}

func modeBits(m int64) fs.FileMode {
	var out fs.FileMode
	if m&0o4000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

func mtimes(t time.Time) []unix.Timespec {
	ts := unix.NsecToTimespec(t.UnixNano())
	return []unix.Timespec{ts, ts}
}

// own gives p the source's owner where this user may (as rsync -a does).
func (s *stage) own(p string, h *tar.Header) {
	if s.chown {
		os.Lchown(p, h.Uid, h.Gid)
	}
}

func (s *stage) target(rel string) string {
	if rel == "." {
		return s.to
	}
	return filepath.Join(s.to, filepath.FromSlash(rel))
}

// commit moves everything into place, removes (with delete) what the source
// does not have, and sets directories' modes and times last (a rename changes
// its directory's mtime).
func (s *stage) commit() error {
	keep := map[string]bool{}
	for _, it := range s.items {
		keep[it.rel] = true
		t := s.target(it.rel)
		old, err := os.Lstat(t)
		exists := err == nil
		if it.hdr.Typeflag == tar.TypeDir {
			if exists && !old.IsDir() {
				if err := os.Remove(t); err != nil {
					return err
				}
				exists = false
			}
			if !exists {
				if err := os.Mkdir(t, 0o700); err != nil {
					return err
				}
			}
			continue
		}
		if exists && old.IsDir() {
			if err := os.RemoveAll(t); err != nil {
				return err
			}
		}
		if err := os.Rename(it.staged, t); err != nil {
			return err
		}
	}
	if s.delete && !s.single {
		if err := s.prune(keep); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return err
	}
	for _, it := range slices.Backward(s.items) {
		if it.hdr.Typeflag != tar.TypeDir {
			continue
		}
		t := s.target(it.rel)
		s.own(t, it.hdr)
		if err := os.Chmod(t, fs.FileMode(it.hdr.Mode).Perm()|modeBits(it.hdr.Mode)); err != nil {
			return err
		}
		if err := os.Chtimes(t, it.hdr.ModTime, it.hdr.ModTime); err != nil {
			return err
		}
	}
	s.created = nil
	return nil
}

// prune removes what is under the destination but not in keep, sparing what
// the excludes match (as rsync --delete does) and the staging directory.
func (s *stage) prune(keep map[string]bool) error {
	return filepath.WalkDir(s.to, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.to || p == s.dir {
			if p == s.dir {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(s.to, p)
		rel = filepath.ToSlash(rel)
		if s.excludes.match(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if keep[rel] {
			return nil
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
}

// abort removes what was staged and the directories made for it.
func (s *stage) abort() {
	os.RemoveAll(s.dir)
	for _, d := range slices.Backward(s.created) {
		os.Remove(d) // only when empty
	}
}
