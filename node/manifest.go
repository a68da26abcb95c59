package node

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// An incremental broadcast sends the source's manifest first: every relay
// compares it with what it holds under To and tells the root which files it
// lacks or holds differently; the stream then carries the contents of only
// those files (for the whole broadcast tree: the union), and each host builds
// everything else (directories, symbolic links, modes, times, deletions) from
// the manifest.

// mType is an entry's type in a manifest.
type mType uint8

const (
	mDir mType = iota + 1
	mFile
	mSymlink
)

// mEntry is one path of the source, relative to From ("." is From itself).
type mEntry struct {
	Rel      string
	Type     mType
	Mode     uint32 // permission, setuid, setgid and sticky bits (07777)
	UID, GID int
	Size     int64
	MTime    int64 // nanoseconds since the epoch
	Link     string
	Sum      []byte // SHA-256 of a file's content, with checksum only
}

// manifest is the source as the root sends it, parents before children.
type manifest struct {
	Checksum bool
	Entries  []mEntry
}

// newManifest describes list; with checksum it reads every file to hash it.
func newManifest(list []entry, checksum bool) (*manifest, error) {
	m := &manifest{Checksum: checksum, Entries: make([]mEntry, len(list))}
	for i, e := range list {
		me := mEntry{Rel: e.rel, Mode: modeOf(e.info.Mode()), MTime: e.info.ModTime().UnixNano(), Link: e.link}
		if st, ok := e.info.Sys().(*syscall.Stat_t); ok {
			me.UID, me.GID = int(st.Uid), int(st.Gid)
		}
		// scanSource lets only files, directories and links through.
		if me.Type = typeOf(e.info.Mode()); me.Type == mFile {
			me.Size = e.info.Size()
			if checksum {
				sum, err := fileSum(e.abs)
				if err != nil {
					return nil, fmt.Errorf("source: %w", err)
				}
				me.Sum = sum
			}
		}
		m.Entries[i] = me
	}
	return m, nil
}

// modeOf is m's permission and special bits in the Unix (tar) encoding.
func modeOf(m fs.FileMode) uint32 {
	out := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		out |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		out |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		out |= 0o1000
	}
	return out
}

// fileMode is the os.Chmod argument for mode bits in the Unix encoding.
func fileMode(m uint32) fs.FileMode {
	return fs.FileMode(m).Perm() | modeBits(int64(m))
}

func fileSum(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// encode is m as it travels: gob, gzip-compressed (paths repeat their parents).
func (m *manifest) encode() ([]byte, error) {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if err := gob.NewEncoder(zw).Encode(m); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// readManifest decodes a manifest from r and checks its shape: "." first,
// then relative paths that stay under it, each below a directory listed
// before it.
func readManifest(r io.Reader, single bool) (*manifest, error) {
	zr, err := gzip.NewReader(bufio.NewReader(r))
	if err != nil {
		return nil, fmt.Errorf("stream is corrupt: manifest: %w", err)
	}
	m := &manifest{}
	if err := gob.NewDecoder(zr).Decode(m); err != nil {
		return nil, fmt.Errorf("stream is corrupt: manifest: %w", err)
	}
	if len(m.Entries) == 0 || m.Entries[0].Rel != "." {
		return nil, errors.New("stream is corrupt: the manifest does not start with its root")
	}
	if single != (m.Entries[0].Type == mFile) || (single && len(m.Entries) > 1) {
		return nil, errors.New("stream is corrupt: the manifest's root has the wrong type")
	}
	dirs := map[string]bool{".": m.Entries[0].Type == mDir}
	for _, e := range m.Entries[1:] {
		rel := path.Clean(e.Rel)
		if rel != e.Rel || rel == "." || rel == ".." || path.IsAbs(rel) || !dirs[path.Dir(rel)] {
			return nil, fmt.Errorf("stream is corrupt: manifest path %q", e.Rel)
		}
		switch e.Type {
		case mDir:
			dirs[rel] = true
		case mFile, mSymlink:
		default:
			return nil, fmt.Errorf("stream is corrupt: %q has type %d", e.Rel, e.Type)
		}
	}
	return m, nil
}

// need is what a host lacks of one manifest entry.
type need uint8

const (
	needNone    need = iota // held as the source has it
	needMeta                // made or fixed from the manifest: a directory, a link, a mode, an owner, a time
	needContent             // a file's content: it must come in the stream
	needCheck               // a file of the same size and another mtime: the root compares hashes
	needStaged              // needContent or needCheck, and the stream brought it
)

// maxChecks bounds how many files a host asks the root to compare by hash
// (the list travels in one control line); past it they count as changed.
const maxChecks = 8192

// verdict is a host's comparison of a manifest with what it holds.
type verdict struct {
	needs []need
	// tree is, for an entry below a directory the host lacks (or holds
	// another type at), that directory's index, and for such a directory its
	// own, when its parent is not one of them: the host stages that directory
	// whole and renames it into place at once. -1 for everything else.
	tree    []int32
	checks  map[int]string // needCheck: the host's SHA-256 of its file, hex
	missing int            // entries the host does not hold at all
}

// compare tells, for every entry of m, what the host lacks: target maps a
// manifest path to where it lands, root is what the host holds at "." (nil:
// nothing), owners whether owners count (the receiver may set them). A path
// below anything that is not already the directory the source has counts as
// missing: the directory is made anew.
func compare(m *manifest, target func(rel string) string, root fs.FileInfo, owners bool) (*verdict, error) {
	v := &verdict{needs: make([]need, len(m.Entries)), tree: make([]int32, len(m.Entries)), checks: map[int]string{}}
	// fresh holds the directories that do not exist as such on this host,
	// each with its tree (see verdict.tree).
	fresh := map[string]int32{}
	for i, e := range m.Entries {
		var fi fs.FileInfo
		var err error
		top := int32(-1)
		if e.Rel == "." {
			fi = root
		} else if t, ok := fresh[path.Dir(e.Rel)]; ok {
			top = t
		} else {
			fi, err = os.Lstat(target(e.Rel))
			if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				return nil, err
			}
		}
		v.tree[i] = top
		if fi == nil || typeOf(fi.Mode()) != e.Type {
			if fi == nil {
				v.missing++
			}
			if e.Type == mDir {
				if top < 0 && e.Rel != "." {
					v.tree[i] = int32(i)
				}
				fresh[e.Rel] = v.tree[i]
			}
			v.needs[i] = needMeta
			if e.Type == mFile {
				v.needs[i] = needContent
			}
			continue
		}
		meta := metaDiffers(fi, &e, owners)
		switch e.Type {
		case mSymlink:
			link, err := os.Readlink(target(e.Rel))
			if err != nil {
				return nil, err
			}
			meta = meta || link != e.Link
		case mFile:
			switch {
			case fi.Size() != e.Size:
				v.needs[i] = needContent
				continue
			case !m.Checksum && fi.ModTime().UnixNano() != e.MTime && len(v.checks) >= maxChecks:
				v.needs[i] = needContent
				continue
			case m.Checksum || fi.ModTime().UnixNano() != e.MTime:
				sum, err := fileSum(target(e.Rel))
				if err != nil {
					return nil, err
				}
				switch {
				case m.Checksum && !bytes.Equal(sum, e.Sum):
					v.needs[i] = needContent
					continue
				case !m.Checksum:
					v.needs[i] = needCheck
					v.checks[i] = fmt.Sprintf("%x", sum)
					continue
				}
			}
		}
		if meta {
			v.needs[i] = needMeta
		}
	}
	return v, nil
}

// metaDiffers reports whether fi has another mode, mtime or (with owners)
// owner than e.
func metaDiffers(fi fs.FileInfo, e *mEntry, owners bool) bool {
	if modeOf(fi.Mode()) != e.Mode || fi.ModTime().UnixNano() != e.MTime {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && owners && (int(st.Uid) != e.UID || int(st.Gid) != e.GID)
}

func typeOf(m fs.FileMode) mType {
	switch {
	case m.IsDir():
		return mDir
	case m.IsRegular():
		return mFile
	case m&fs.ModeSymlink != 0:
		return mSymlink
	}
	return 0
}

// ranges lists the entries with need n as [first, last] index pairs.
func (v *verdict) ranges(n need) [][2]int {
	var out [][2]int
	for i, x := range v.needs {
		if x != n {
			continue
		}
		if k := len(out) - 1; k >= 0 && out[k][1] == i-1 {
			out[k][1] = i
		} else {
			out = append(out, [2]int{i, i})
		}
	}
	return out
}

// writeContents writes, for each file the stream carries, its index in the
// manifest (uvarint) and exactly its manifest size of content.
func writeContents(w io.Writer, list []entry, send []bool) error {
	var hdr [binary.MaxVarintLen64]byte
	buf := make([]byte, 128<<10)
	for i, ok := range send {
		if !ok {
			continue
		}
		if _, err := w.Write(hdr[:binary.PutUvarint(hdr[:], uint64(i))]); err != nil {
			return err
		}
		if err := copyFile(w, list[i], buf); err != nil {
			return err
		}
	}
	return nil
}

// contentsSize is how many bytes writeContents writes for send, the files
// their sizes as listed: each file's index, then its bytes.
func contentsSize(list []entry, send []bool) int64 {
	var hdr [binary.MaxVarintLen64]byte
	var n int64
	for i, ok := range send {
		if ok {
			n += int64(binary.PutUvarint(hdr[:], uint64(i))) + list[i].info.Size()
		}
	}
	return n
}
