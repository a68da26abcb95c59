package node

import (
	"archive/tar"
	"context"
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

	pause time.Duration // a test hook: commit waits this long after each path
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
	s.dir = filepath.Join(home, stagePrefix+token[:12])
	removeStale(home, s.dir)
	// It may exist: claimHome made it (the token is this run's alone).
	if err := os.Mkdir(s.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
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

// removeStale removes staging directories that killed relays left in dir,
// except keep (this run's). It runs under the claim on dir (see claimHome):
// any other staging directory there belongs to a relay that has ended.
func removeStale(dir, keep string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if p := filepath.Join(dir, e.Name()); strings.HasPrefix(e.Name(), stagePrefix) && e.IsDir() && p != keep {
			os.RemoveAll(p)
		}
	}
}

// claim is a relay's hold, for its whole run, on the directory it stages in
// (to, or a file's directory): an exclusive flock on that directory, which the
// kernel releases when the relay ends, however it ends, so that no lock is ever
// stale. Two runs into the same place never remove each other's staging
// directory nor interleave their commits: the second is refused.
type claim struct {
	f       *os.File
	dir     string   // this run's staging directory
	created []string // directories made for the claim
}

// ownerFile, in a staging directory, says which run it belongs to: what a
// refused run names.
const ownerFile = "owner"

// claimHome claims the directory where a broadcast into to stages (made if
// missing), removes what killed relays left there, and makes this run's
// staging directory with its owner file (pid, start time, the root's host).
// When another run holds it, the error is one line naming that run.
func claimHome(to string, single bool, name, token, origin string) (*claim, error) {
	home := filepath.Clean(to)
	if single {
		dest, err := fileDestination(to, name)
		if err != nil {
			return nil, err
		}
		home = filepath.Dir(filepath.Clean(dest))
	}
	var made stage
	if err := made.mkdirAll(home); err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	c := &claim{created: made.created}
	f, err := os.Open(home)
	if err != nil {
		c.release(false)
		return nil, fmt.Errorf("destination: %w", err)
	}
	c.f = f
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		c.release(false)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is taken by another grifork broadcast (%s): this run leaves it alone; try again once that one has ended", home, holder(home))
		}
		return nil, fmt.Errorf("lock %s: %w", home, err)
	}
	dir := filepath.Join(home, stagePrefix+token[:12])
	removeStale(home, dir)
	err = os.Mkdir(dir, 0o700)
	if err == nil {
		who := fmt.Sprintf("relay pid %d, started %s, from host %s", os.Getpid(), time.Now().UTC().Format("2006-01-02 15:04:05 UTC"), origin)
		err = os.WriteFile(filepath.Join(dir, ownerFile), []byte(who+"\n"), 0o600)
	}
	c.dir = dir
	if err != nil {
		c.release(false)
		return nil, fmt.Errorf("staging directory: %w", err)
	}
	return c, nil
}

// holder says which run holds home, from its staging directory's owner file;
// the holder writes it right after it took the lock, so it is waited for a moment.
func holder(home string) string {
	for range 20 {
		found, _ := filepath.Glob(filepath.Join(home, stagePrefix+"*", ownerFile))
		for _, f := range found {
			if b, err := os.ReadFile(f); err == nil && len(b) > 0 {
				return strings.TrimSpace(string(b))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "it has not said which yet"
}

// release lets the claim go; unless kept (the run committed), its staging
// directory goes (a relay that ends before the stream has staged nothing but
// its owner file), and so do the directories made for it when still empty.
func (c *claim) release(keep bool) {
	if !keep && c.dir != "" {
		os.RemoveAll(c.dir)
	}
	if c.f != nil {
		c.f.Close()
	}
	if keep {
		return
	}
	for _, d := range slices.Backward(c.created) {
		os.Remove(d)
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
// its directory's mtime). Cancelling ctx stops it between two paths; stopped
// or failed there, its error says how far it got (see partial).
func (s *stage) commit(ctx context.Context) error {
	keep := map[string]bool{}
	for i, it := range s.items {
		if ctx.Err() != nil {
			return s.partial(i, context.Cause(ctx))
		}
		if err := s.place(it); err != nil {
			return s.partial(i, err)
		}
		keep[it.rel] = true
		if s.pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(s.pause):
			}
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

// place puts one staged path at its target.
func (s *stage) place(it item) error {
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
			return os.Mkdir(t, 0o700)
		}
		return nil
	}
	if exists && old.IsDir() {
		if err := os.RemoveAll(t); err != nil {
			return err
		}
	}
	return os.Rename(it.staged, t)
}

// partial is the error of a commit that stopped, for err, before the path of
// index done: every path before holds its new content, every other its old one
// (a path is replaced by one rename), and nothing was removed yet.
func (s *stage) partial(done int, err error) error {
	if done == 0 {
		return fmt.Errorf("commit: %w (nothing under %s replaced)", err, s.to)
	}
	return fmt.Errorf("commit stopped: %w: %d of %d paths under %s have their new content (up to %s, in the stream's order), the others their old one; nothing removed", err, done, len(s.items), s.to, s.items[done-1].rel)
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
