package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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

	single  bool     // the source is one file, landing at to
	buf     []byte   // for copying file contents: large writes
	created []string // directories made before commit, removed on abort if empty

	before  fs.FileInfo // to as it was before the staging directory changed its mtime
	m       *manifest
	v       *verdict
	written int64 // content bytes written
	deleted int   // paths removed (delete)

	pause time.Duration // a test hook: commit waits this long after each path
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
	to, home, err := destination(to, single, name)
	if err != nil {
		return nil, err
	}
	s := &stage{to: to, single: single, excludes: m, delete: del, chown: os.Geteuid() == 0, buf: make([]byte, 1<<20)}
	s.before, _ = os.Lstat(to)
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

// destination is the path a broadcast into to replaces (for single, the
// file's, see fileDestination) and home, the directory it stages in; an error
// when what is there is a link or of the other type.
func destination(to string, single bool, name string) (dest, home string, err error) {
	if single {
		if to, err = fileDestination(to, name); err != nil {
			return "", "", err
		}
	}
	dest, home = filepath.Clean(to), filepath.Clean(to)
	if single {
		home = filepath.Dir(dest)
	}
	if fi, err := os.Lstat(dest); err == nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return "", "", fmt.Errorf("destination %s is a symbolic link: name the path it points to", dest)
		case single && fi.IsDir():
			return "", "", fmt.Errorf("destination %s is a directory: the file would replace it", dest)
		case !single && !fi.IsDir():
			return "", "", fmt.Errorf("destination %s exists and is not a directory: the directory would replace it", dest)
		}
	}
	return dest, home, nil
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
	// before is the destination as it was when claimed: the staging
	// directory, made inside a destination directory, changes its mtime.
	before fs.FileInfo
}

// ownerFile, in a staging directory, says which run it belongs to: what a
// refused run names.
const ownerFile = "owner"

// claimHome claims the directory where a broadcast into to stages (made if
// missing), removes what killed relays left there, and makes this run's
// staging directory with its owner file (pid, start time, the root's host).
// When another run holds it, the error is one line naming that run.
func claimHome(to string, single bool, name, token, origin string) (*claim, error) {
	dest, home, err := destination(to, single, name)
	if err != nil {
		return nil, err
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
	if !slices.Contains(c.created, dest) {
		c.before, _ = os.Lstat(dest)
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

// plan compares m, the source's manifest, with what the destination holds:
// what this host lacks.
func (s *stage) plan(m *manifest) (*verdict, error) {
	// Making the staging directory inside to changed to's mtime, which commit
	// sets again: what counts is to as it was.
	v, err := compare(m, s.target, s.before, s.chown)
	if err != nil {
		return nil, fmt.Errorf("compare with %s: %w", s.to, err)
	}
	s.m, s.v = m, v
	return v, nil
}

// receive reads the contents that follow the manifest from r: the files this
// host lacks go into the staging directory, the others (which hosts below
// lack) are skipped.
func (s *stage) receive(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	next := 0
	for {
		u, err := binary.ReadUvarint(br)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stream: %w", truncated(err))
		}
		if u >= uint64(len(s.m.Entries)) || int(u) < next || s.m.Entries[u].Type != mFile {
			return fmt.Errorf("stream is corrupt: file %d", u)
		}
		i := int(u)
		next = i + 1
		e := &s.m.Entries[i]
		if n := s.v.needs[i]; n != needContent && n != needCheck {
			if _, err := io.CopyN(io.Discard, br, e.Size); err != nil {
				return fmt.Errorf("read stream: %w", truncated(err))
			}
			continue
		}
		if err := s.writeFile(s.staged(i), e, br); err != nil {
			return err
		}
		s.v.needs[i] = needStaged
		s.written += e.Size
	}
}

func (s *stage) staged(i int) string { return filepath.Join(s.dir, strconv.Itoa(i)) }

// writeFile writes e's content, the next e.Size bytes of r, to p.
func (s *stage) writeFile(p string, e *mEntry, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, io.LimitReader(r, e.Size), s.buf)
	if err == nil && n < e.Size {
		err = errTruncated
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", s.target(e.Rel), truncated(err))
	}
	return s.setMeta(p, e)
}

// setMeta gives p e's owner (where this user may, as rsync -a does), mode and mtime.
func (s *stage) setMeta(p string, e *mEntry) error {
	if s.chown {
		os.Lchown(p, e.UID, e.GID)
	}
	if err := os.Chmod(p, fileMode(e.Mode)); err != nil {
		return err
	}
	t := time.Unix(0, e.MTime)
	return os.Chtimes(p, t, t)
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

func (s *stage) target(rel string) string {
	if rel == "." {
		return s.to
	}
	return filepath.Join(s.to, filepath.FromSlash(rel))
}

// commit moves what was staged into place, makes or fixes from the manifest
// what needs no content (directories, links, modes, owners, times), removes
// (with delete) what the source does not have, and sets directories' modes and
// times last (a rename changes its directory's mtime). Cancelling ctx stops it
// between two paths; stopped or failed there, its error says how far it got
// (see partial).
func (s *stage) commit(ctx context.Context) error {
	for i := range s.m.Entries {
		if ctx.Err() != nil {
			return s.partial(i, context.Cause(ctx))
		}
		if err := s.place(i); err != nil {
			return s.partial(i, err)
		}
		if s.pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(s.pause):
			}
		}
	}
	if s.delete && !s.single {
		keep := make(map[string]bool, len(s.m.Entries))
		for _, e := range s.m.Entries {
			keep[e.Rel] = true
		}
		if err := s.prune(keep); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return err
	}
	for i := len(s.m.Entries) - 1; i >= 0; i-- {
		if e := &s.m.Entries[i]; e.Type == mDir {
			if err := s.setMeta(s.target(e.Rel), e); err != nil {
				return err
			}
		}
	}
	s.created = nil
	return nil
}

// kind says what the commit was for this host: "full" (it held none of the
// source), "current" (nothing to change) or "update".
func (s *stage) kind() string {
	changed := s.deleted > 0
	for _, n := range s.v.needs {
		changed = changed || n != needNone
	}
	all := len(s.m.Entries)
	switch {
	case !changed:
		return "current"
	case s.v.missing == all || (all > 1 && s.v.missing == all-1):
		return "full"
	}
	return "update"
}

// place makes entry i of the manifest what the source has, unless this host
// holds it already: a path is replaced by one rename, so it holds its old
// content or its new one.
func (s *stage) place(i int) error {
	e := &s.m.Entries[i]
	n, t := s.v.needs[i], s.target(e.Rel)
	switch {
	case n == needNone:
	case e.Type == mDir:
		old, err := os.Lstat(t)
		if err == nil && !old.IsDir() {
			if err := os.Remove(t); err != nil {
				return err
			}
		}
		if err != nil || !old.IsDir() {
			return os.Mkdir(t, 0o700)
		}
	case n == needStaged || e.Type == mSymlink:
		p := s.staged(i)
		if e.Type == mSymlink {
			if err := os.Symlink(e.Link, p); err != nil {
				return err
			}
			if s.chown {
				os.Lchown(p, e.UID, e.GID)
			}
			unix.UtimesNanoAt(unix.AT_FDCWD, p, mtimes(time.Unix(0, e.MTime)), unix.AT_SYMLINK_NOFOLLOW)
		}
		if old, err := os.Lstat(t); err == nil && old.IsDir() {
			if err := os.RemoveAll(t); err != nil {
				return err
			}
		}
		return os.Rename(p, t)
	case n == needContent:
		return fmt.Errorf("stream is corrupt: %s was not sent", t)
	default: // a file whose content this host holds: its mode, owner or time
		return s.setMeta(t, e)
	}
	return nil
}

// partial is the error of a commit that stopped, for err, before entry next
// of the manifest: of the paths it changes, those before hold their new
// content, every other its old one, and nothing was removed yet.
func (s *stage) partial(next int, err error) error {
	done, total, last := 0, 0, ""
	for i, n := range s.v.needs {
		if n == needNone {
			continue
		}
		total++
		if i < next {
			done, last = done+1, s.m.Entries[i].Rel
		}
	}
	if done == 0 {
		return fmt.Errorf("commit: %w (nothing under %s replaced)", err, s.to)
	}
	return fmt.Errorf("commit stopped: %w: %d of %d changed paths under %s have their new content (up to %s, in the stream's order), the others their old one; nothing removed", err, done, total, s.to, last)
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
		s.deleted++
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
