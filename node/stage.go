package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
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

	single bool   // the source is one file, landing at to
	buf    []byte // for copying file contents: large writes
	// A file created in the staging directory gets uid and gid, and its
	// mode masked by mask (see createMask): what needs no chown or chmod of
	// its own.
	uid, gid int
	mask     uint32

	before  fs.FileInfo // to as it was before the staging directory changed its mtime
	m       *manifest
	v       *verdict
	written int64 // content bytes written
	deleted int   // paths removed (delete)

	pause time.Duration // a test hook: commit waits this long after each path
}

// newStage prepares to receive into the destination c claimed, staging in its
// staging directory.
func newStage(c *claim, excludes []string, del bool) (*stage, error) {
	m, err := newMatcher(excludes)
	if err != nil {
		return nil, err
	}
	// What is made in the staging directory gets its group: the creator's
	// (which it got), or its own where it is set-group-ID or the file system
	// says so (grpid): in every case, its group.
	var st unix.Stat_t
	if err := unix.Stat(c.dir, &st); err != nil {
		return nil, fmt.Errorf("staging directory: %w", err)
	}
	return &stage{to: c.to, dir: c.dir, single: c.single, before: c.before, excludes: m, delete: del,
		chown: os.Geteuid() == 0, buf: make([]byte, 1<<20), uid: os.Geteuid(), gid: int(st.Gid), mask: createMask(c.dir)}, nil
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
	in := filepath.Join(to, stageName(token))
	if !single {
		return []string{in}
	}
	return []string{filepath.Join(filepath.Dir(to), stageName(token)), in}
}

// stageName is the name of the staging directory of the run with token.
func stageName(token string) string { return stagePrefix + token[:12] }

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
	to      string   // the destination (for a file: the file's, see destination)
	single  bool     // a file, not a directory
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
	made, err := mkdirAll(home)
	if err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	c := &claim{to: dest, single: single, created: made}
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
	dir := filepath.Join(home, stageName(token))
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

// mkdirAll makes dir and its missing parents, and says which it made.
func mkdirAll(dir string) (made []string, err error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return made, err
		}
		made = append(made, missing[i])
	}
	return made, nil
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
	if err := s.prepare(); err != nil {
		return err
	}
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
			if _, err := br.Discard(int(min(e.Size, math.MaxInt))); err != nil {
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

// prepare makes, in the staging directory, the directories that are renamed
// into place whole (see verdict.tree) with the directories and links below
// them, so that the files below them are written where they will stay.
func (s *stage) prepare() error {
	for i := range s.v.tree {
		if s.v.tree[i] < 0 {
			continue
		}
		e, p := &s.m.Entries[i], s.staged(i)
		switch e.Type {
		case mDir:
			if err := os.Mkdir(p, 0o700); err != nil {
				return fmt.Errorf("staging directory: %w", err)
			}
		case mSymlink:
			if err := s.symlink(p, e); err != nil {
				return fmt.Errorf("staging directory: %w", err)
			}
		}
	}
	return nil
}

// staged is where entry i is staged: under the staging directory by its index,
// or, below a directory renamed whole, at its path within that directory's.
func (s *stage) staged(i int) string {
	k := int(s.v.tree[i])
	if k < 0 || k == i {
		return filepath.Join(s.dir, strconv.Itoa(i))
	}
	top := s.m.Entries[k].Rel
	return filepath.Join(s.dir, strconv.Itoa(k), filepath.FromSlash(s.m.Entries[i].Rel[len(top)+1:]))
}

// writeFile writes e's content, the next e.Size bytes of r, to p, with e's
// owner, mode and mtime: set on the open file, and only where creating it did
// not already (many small files: every system call counts).
func (s *stage) writeFile(p string, e *mEntry, r io.Reader) error {
	var fd int
	err := eintr(func() (err error) {
		fd, err = unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, e.Mode&0o777)
		return err
	})
	if err != nil {
		return &fs.PathError{Op: "open", Path: p, Err: err}
	}
	err = s.fill(fd, e.Size, r)
	if err == nil {
		err = s.fileMeta(fd, p, e)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = &fs.PathError{Op: "close", Path: p, Err: cerr}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", s.target(e.Rel), truncated(err))
	}
	return nil
}

// fill copies the next size bytes of r to fd.
func (s *stage) fill(fd int, size int64, r io.Reader) error {
	for size > 0 {
		n, err := io.ReadFull(r, s.buf[:min(size, int64(len(s.buf)))])
		if err != nil {
			return err
		}
		for b := s.buf[:n]; len(b) > 0; {
			w, err := unix.Write(fd, b)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			b = b[w:]
		}
		size -= int64(n)
	}
	return nil
}

// fileMeta gives the file open at fd e's owner (where this user may, as rsync
// -a does), mode and mtime, skipping what its creation already gave it.
func (s *stage) fileMeta(fd int, p string, e *mEntry) error {
	if s.chown && (e.UID != s.uid || e.GID != s.gid) {
		eintr(func() error { return unix.Fchown(fd, e.UID, e.GID) })
	}
	// A chown clears the setuid and setgid bits: the chmod comes after it
	// (special bits always take one).
	if perm := e.Mode & 0o777; e.Mode != perm || perm&^s.mask != perm {
		if err := eintr(func() error { return unix.Fchmod(fd, e.Mode&0o7777) }); err != nil {
			return err
		}
	}
	ts := unix.NsecToTimespec(e.MTime)
	return eintr(func() error { return futimens(fd, p, &[2]unix.Timespec{ts, ts}) })
}

// eintr calls fn again while it fails with EINTR, as package os does for its
// system calls: the runtime's preemption signals interrupt slow ones (on NFS or
// FUSE, an open or a chmod too).
func eintr(fn func() error) error {
	for {
		if err := fn(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// symlink makes e's link at p, with its owner (where this user may) and mtime.
func (s *stage) symlink(p string, e *mEntry) error {
	if err := os.Symlink(e.Link, p); err != nil {
		return err
	}
	if s.chown {
		os.Lchown(p, e.UID, e.GID)
	}
	unix.UtimesNanoAt(unix.AT_FDCWD, p, mtimes(time.Unix(0, e.MTime)), unix.AT_SYMLINK_NOFOLLOW)
	return nil
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
// times last (a rename changes its directory's mtime). A directory the host
// lacked is renamed into place whole, with everything below it. Cancelling ctx
// stops it between two paths; stopped or failed there, its error says how far
// it got (see partial).
func (s *stage) commit(ctx context.Context) error {
	for i := range s.m.Entries {
		if k := int(s.v.tree[i]); k >= 0 && k != i {
			// In place with its directory (the manifest lists a directory's
			// subtree right after it, so the paths before the next stop are done).
			if s.v.needs[i] == needContent {
				return s.partial(i, fmt.Errorf("stream is corrupt: %s was not sent", s.target(s.m.Entries[i].Rel)))
			}
			continue
		}
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
		if err := s.prune(); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return err
	}
	for i := len(s.m.Entries) - 1; i >= 0; i-- {
		if k := int(s.v.tree[i]); k >= 0 && k != i {
			continue // set by finishTree
		}
		if e := &s.m.Entries[i]; e.Type == mDir {
			if err := s.setMeta(s.target(e.Rel), e); err != nil {
				return err
			}
		}
	}
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
// content or its new one. Where the new entry's type differs (a directory for
// a file or link, or the reverse) the two are exchanged in one step and the
// old one, now in the staging directory, goes with it (see replace).
func (s *stage) place(i int) error {
	e := &s.m.Entries[i]
	n, t := s.v.needs[i], s.target(e.Rel)
	switch {
	case n == needNone:
	case e.Type == mDir && int(s.v.tree[i]) == i: // made whole in the staging directory
		var err error
		if old, lerr := os.Lstat(t); lerr == nil && !old.IsDir() {
			err = replace(s.staged(i), t, false)
		} else {
			err = os.Rename(s.staged(i), t)
		}
		if err != nil {
			return err
		}
		return s.finishTree(i)
	case e.Type == mDir:
		old, err := os.Lstat(t)
		switch {
		case err == nil && old.IsDir():
		case err == nil:
			p := s.staged(i)
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			return replace(p, t, false)
		default:
			return os.Mkdir(t, 0o700)
		}
	case n == needStaged || e.Type == mSymlink:
		p := s.staged(i)
		if e.Type == mSymlink {
			if err := s.symlink(p, e); err != nil {
				return err
			}
		}
		// A directory where the source has a file or a link goes first; tried
		// after the rename, which fails on it, this costs no lstat a file.
		err := os.Rename(p, t)
		if err == nil {
			return nil
		}
		if old, lerr := os.Lstat(t); lerr == nil && old.IsDir() {
			return replace(p, t, true)
		}
		return err
	case n == needContent:
		return fmt.Errorf("stream is corrupt: %s was not sent", t)
	default: // a file whose content this host holds: its mode, owner or time
		return s.setMeta(t, e)
	}
	return nil
}

// finishTree gives the directories of the tree renamed into place whole at
// entry i their modes, owners and times, deepest first (a directory's mode
// may take the write or search permission its children's need): a commit
// that stops later leaves them as the source has them, as partial says, not
// 0700. Nothing changes below them afterwards; commit's last loop sets i's
// again (for its mtime, which the staging directory's removal may change
// when i is the destination itself) and no other of them.
func (s *stage) finishTree(i int) error {
	end := i + 1
	for end < len(s.m.Entries) && int(s.v.tree[end]) == i {
		end++
	}
	for j := end - 1; j >= i; j-- {
		if e := &s.m.Entries[j]; e.Type == mDir {
			if err := s.setMeta(s.target(e.Rel), e); err != nil {
				return err
			}
		}
	}
	return nil
}

// errNoExchange is a system that cannot exchange two paths in one step.
var errNoExchange = errors.New("cannot exchange two paths")

// replace puts the staged entry p at t, whose entry is of another type, in
// one step where the system can exchange two paths (Linux's renameat2); the
// old entry is left at p, in the staging directory, which commit removes.
// Elsewhere the old entry is removed first (all of it when tree), and a stop
// between the removal and the rename leaves t with neither.
func replace(p, t string, tree bool) error {
	err := exchange(p, t)
	if !errors.Is(err, errNoExchange) {
		return err
	}
	if tree {
		err = os.RemoveAll(t)
	} else {
		err = os.Remove(t)
	}
	if err != nil {
		return err
	}
	return os.Rename(p, t)
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

// prune removes what is under the destination but not in the manifest,
// sparing what the excludes match (as rsync --delete does) and the staging
// directory. A directory renamed into place whole holds only the manifest's
// paths: it is not walked.
func (s *stage) prune() error {
	keep := make(map[string]bool)
	for i, e := range s.m.Entries {
		if k := int(s.v.tree[i]); k < 0 || k == i {
			keep[e.Rel] = k == i
		}
	}
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
		if whole, ok := keep[rel]; ok {
			if whole && d.IsDir() {
				return filepath.SkipDir
			}
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

// abort removes what was staged (the claim removes the directories made for it).
func (s *stage) abort() {
	os.RemoveAll(s.dir)
}
