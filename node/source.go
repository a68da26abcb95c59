package node

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/grifork/grifork/core"
	"golang.org/x/sys/unix"
)

// entry is one path of a broadcast source, relative to From ("." is From itself).
type entry struct {
	rel  string
	abs  string
	info fs.FileInfo
	link string // symlink target
}

// scanSource lists what a broadcast of from sends, parents before children,
// leaving out what excludes match. Anything but regular files, directories and
// symlinks is an error naming the path, before anything is sent.
func scanSource(from string, excludes []string) ([]entry, int64, error) {
	from = filepath.Clean(from)
	fi, err := os.Lstat(from)
	if err != nil {
		return nil, 0, fmt.Errorf("source: %w", err)
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("source %s: %s; broadcast sends a directory or a regular file", from, kind(fi.Mode()))
	}
	m, err := newMatcher(excludes)
	if err != nil {
		return nil, 0, err
	}
	var list []entry
	var size int64
	err = filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "." && m.match(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("source: %w", err)
		}
		e := entry{rel: rel, abs: p, info: info}
		switch mode := info.Mode(); {
		case mode.IsRegular():
			size += info.Size()
		case mode.IsDir():
		case mode&fs.ModeSymlink != 0:
			if e.link, err = os.Readlink(p); err != nil {
				return fmt.Errorf("source: %w", err)
			}
		default:
			return fmt.Errorf("source %s: %s; broadcast sends only regular files, directories and symlinks (exclude it)", p, kind(mode))
		}
		list = append(list, e)
		return nil
	})
	return list, size, err
}

// DescribeSource says, for a plan, how much a broadcast of cfg sends to a
// host that holds nothing.
func DescribeSource(cfg core.BroadcastConfig) string {
	list, size, err := scanSource(cfg.From, cfg.Excludes)
	if err != nil {
		return "it cannot be read here: " + core.OneLine(err.Error())
	}
	files := 0
	for _, e := range list {
		if e.info.Mode().IsRegular() {
			files++
		}
	}
	noun := "files"
	if files == 1 {
		noun = "file"
	}
	return fmt.Sprintf("%d %s, %d bytes", files, noun, size)
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeDevice != 0:
		return "a device file"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file or directory (" + m.String() + ")"
}

// copyFile writes e's content to w, read with buf (no os.File: many small
// files make its per-file costs count); an error when the file is not the
// size the scan saw.
func copyFile(w io.Writer, e entry, buf []byte) error {
	var fd int
	err := eintr(func() (err error) {
		fd, err = unix.Open(e.abs, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return &fs.PathError{Op: "open", Path: e.abs, Err: err}
	}
	defer unix.Close(fd)
	var n int64
	for {
		k, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "read", Path: e.abs, Err: err}
		}
		if k == 0 {
			break
		}
		if n += int64(k); n > e.info.Size() {
			break
		}
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
	}
	if n != e.info.Size() {
		return fmt.Errorf("%s changed while it was being sent", e.abs)
	}
	return nil
}

// matcher is the excludes of a broadcast, with rsync's basic rules: a pattern
// with a "/" (other than a trailing one) matches the whole path relative to
// From (a leading "/" anchors it there), one without matches any name at any
// depth; a trailing "/" matches only directories; * ? [ ] as in path.Match.
type matcher struct {
	pats []pattern
}

type pattern struct {
	glob    string
	anchor  bool // matched against the whole relative path
	dirOnly bool
}

func newMatcher(excludes []string) (*matcher, error) {
	m := &matcher{}
	for _, x := range excludes {
		p := pattern{glob: x}
		if strings.HasSuffix(p.glob, "/") {
			p.dirOnly, p.glob = true, strings.TrimRight(p.glob, "/")
		}
		if strings.Contains(p.glob, "/") {
			p.anchor, p.glob = true, strings.TrimPrefix(p.glob, "/")
		}
		if p.glob == "" {
			return nil, fmt.Errorf("broadcast: exclude %q matches nothing", x)
		}
		if _, err := path.Match(p.glob, ""); err != nil {
			return nil, fmt.Errorf("broadcast: exclude %q: %w", x, err)
		}
		m.pats = append(m.pats, p)
	}
	return m, nil
}

func (m *matcher) match(rel string, dir bool) bool {
	for _, p := range m.pats {
		if p.dirOnly && !dir {
			continue
		}
		s := rel
		if !p.anchor {
			s = path.Base(rel)
		}
		if ok, _ := path.Match(p.glob, s); ok {
			return true
		}
	}
	return false
}
