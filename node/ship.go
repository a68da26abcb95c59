package node

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/sshx"
)

// Shipper gets a host ready to run grifork: the login user's own tmpdir
// (grifork { tmpdir }, default /tmp/grifork-<uid>; created mode 0700 and refused
// when it is a symlink, someone else's, or writable by others, or when its
// parent is writable by others without the sticky bit, so that another user
// could swap it), a fresh
// run-<random> directory for one run's files, and, unless grifork { exec } names
// the command to run, grifork's own executable as <tmpdir>/grifork-<sha256[:12]>:
// shipped (compressed once per process, however many children get it) only when
// the cache lacks it, verified after the copy, after checking that `uname -sm`
// matches the binary's OS and architecture. A cached copy counts when it is a
// regular file of the login user's (not a symlink) with the binary's size and
// the modification time the shipper gave it, derived from its SHA-256: a stat
// instead of hashing 15 MB on every host at every run. Only the login user can
// write into the private tmpdir, and a copy rewritten by any means but a
// deliberate touch gets a new time and is shipped again.
//
// A host of another platform gets a grifork built for it (see binaryFor), at
// the cost of one more session the first time the Shipper meets the host.
// Safe for concurrent use.
type Shipper struct {
	c       *sshx.Client
	grifork core.GriforkConfig
	log     *slog.Logger

	// own is the binary given to NewShipper, of this process's platform (a
	// field: tests play a foreign one).
	own *shipBinary

	mu      sync.Mutex
	foreign map[string]*shipBinary // by path
	// platform maps a host (core.Host.String) to the binary it runs, once a
	// Deploy learned that it is of another platform than own.
	platform sync.Map
	// noSFTP holds the hosts (core.Host.String) whose sshd refused the sftp
	// subsystem: a binary goes there paced or streamed.
	noSFTP sync.Map
}

// shipBinary is one executable to ship, hashed and compressed once per
// process, however many hosts get it.
type shipBinary struct {
	goos, goarch string
	path         string // "": os.Executable(), resolved by hash

	once sync.Once
	sum  string // hex SHA-256
	size int64
	err  error

	gzOnce sync.Once
	gz     []byte // its tar entry, gzipped: a gzip member of its own
	gzErr  error
}

// NewShipper returns a Shipper over c; binary is the executable to ship ("":
// this one); log nil discards.
func NewShipper(c *sshx.Client, grifork core.GriforkConfig, binary string, log *slog.Logger) *Shipper {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Shipper{c: c, grifork: grifork, log: log, own: &shipBinary{goos: runtime.GOOS, goarch: runtime.GOARCH, path: binary}}
}

// Deployment is a host made ready by Deploy.
type Deployment struct {
	Host  core.Host
	Exe   string // the grifork to run there
	Dir   string // the tmpdir, absolute
	Run   string // this run's directory, holding the files given to Deploy
	Chdir string // where grifork runs: grifork { chdir }, else Dir
}

// File is a file for a run directory.
type File struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// Deploy readies host and writes files into a new run directory there, in one
// session: the host reports its state (setup's script), then reads what to do
// and, unless there is nothing to send, one gzipped tar stream of the files and
// the binary when it must be shipped. The caller removes the run directory with
// Cleanup.
func (s *Shipper) Deploy(ctx context.Context, host core.Host, files []File) (Deployment, error) {
	return s.deploy(ctx, host, files, nil, nil)
}

// Seed puts the compressed binary (seedStream) into the file named on host,
// from elsewhere than this process: see Launch.
type Seed func(ctx context.Context, file string) error

// Launch readies host as Deploy does (with no files) and runs grifork there
// with args, in the run directory, until it ends: stdin feeds it, stdout and
// stderr take its output, and started is called with the Deployment just
// before it starts. Where nothing is to ship (the host's cache holds the
// binary, or grifork { exec } names it) the command runs in the deploy
// session itself, which saves every host a session, and the login shell and
// wrapper that come with one, at every run. Otherwise the binary reaches the
// host first and the command gets a session of its own: with seed, seed puts
// it into the run directory (from a relay, so that this process's uplink
// need not carry it) and the host verifies its SHA-256 and caches it as if
// this Shipper had sent it; without seed, or when seeding fails, the host's
// copy does not verify, or the host is of another platform than this
// process, this Shipper ships it itself (and says so at level info).
//
// Unlike Deploy's, the deploy session is not bounded by ssh {
// command_timeout }: the command outlives it, and the caller bounds both (a
// relay's silence). An error before the start is Deploy's, after it the
// command's (a *sshx.CommandError when it failed). The Deployment returned
// has Run set once the command started: remove it with Cleanup when the
// command failed.
func (s *Shipper) Launch(ctx context.Context, host core.Host, args []string, seed Seed, stdin io.Reader, stdout, stderr io.Writer, started func(Deployment)) (Deployment, error) {
	l := &launch{args: args, stdin: stdin, stdout: stdout, stderr: stderr, started: started}
	d, err := s.deploy(ctx, host, nil, seed, l)
	var se *seedError
	if errors.As(err, &se) {
		s.log.Info("seeding grifork failed: shipping it from here", "host", host.String(), "err", se.err)
		d, err = s.deploy(ctx, host, nil, nil, l)
	}
	if err != nil || l.ran {
		return d, err
	}
	started(d)
	return d, s.c.Start(ctx, host, launchCmdline(d, args), stdin, stdout, stderr)
}

// launchCmdline is the command line that runs grifork with args in d's run
// directory.
func launchCmdline(d Deployment, args []string) string {
	return "cd -- " + core.ShellQuote(d.Run) + " && exec " + core.ShellJoin(append([]string{d.Exe}, args...))
}

// launch is Launch's command, for deploy to run in its session when it can.
type launch struct {
	args           []string
	stdin          io.Reader
	stdout, stderr io.Writer
	started        func(Deployment)
	ran            bool // it ran in the deploy session
}

// seedError is a seeding that failed, after which the host's run directory
// is gone (Launch ships instead).
type seedError struct{ err error }

func (e *seedError) Error() string { return "seeding grifork: " + e.err.Error() }
func (e *seedError) Unwrap() error { return e.err }

func (s *Shipper) deploy(ctx context.Context, host core.Host, files []File, seed Seed, l *launch) (Deployment, error) {
	bin := s.own
	if b, ok := s.platform.Load(host.String()); ok {
		bin = b.(*shipBinary)
	}
	d, other, err := s.deployWith(ctx, host, files, seed, bin, l)
	if other != nil {
		// The host is of another platform: its setup is undone; again with
		// its binary, whose cached copy the script must look for.
		if d, other, err = s.deployWith(ctx, host, files, seed, other, l); other != nil {
			err = errors.New("the host's platform changed while grifork was readied there")
		}
	}
	return d, err
}

// deployWith is deploy with bin to ship, or to have seed put there when bin
// is this process's own. When the host turns out to be of another platform
// than bin's, it undoes the setup and returns the binary for the host's
// platform to try again with instead. With l, l's command runs in the
// session once the binary is there (cached, or received as a file and
// verified), and the error is its.
func (s *Shipper) deployWith(ctx context.Context, host core.Host, files []File, seed Seed, bin *shipBinary, l *launch) (Deployment, *shipBinary, error) {
	exe := s.grifork.Exec
	var sum string
	var err error
	if exe == "" {
		if sum, err = bin.hash(); err != nil {
			return Deployment{}, nil, err
		}
	}
	sess := s.start(ctx, host, sum, l)
	sess.bin = bin
	st, err := sess.setup()
	if err != nil {
		return Deployment{}, nil, err
	}
	if exe == "" && !bin.runsOn(st.uname) {
		other, err := s.binaryFor(st.uname)
		sess.abort()
		if err != nil {
			return Deployment{}, nil, err
		}
		if other == s.own {
			s.platform.Delete(host.String())
		} else {
			s.platform.Store(host.String(), other)
		}
		return Deployment{}, other, nil
	}
	var tf []tarFile
	for _, f := range files {
		tf = append(tf, tarFile{name: f.Name, data: f.Data})
	}
	if exe == "" {
		if exe, err = s.shipTo(host, st, bin, &tf); err != nil {
			sess.abort() // the host removes the run directory
			return Deployment{}, nil, err
		}
	}
	d := Deployment{Host: host, Exe: exe, Dir: st.dir, Run: st.run, Chdir: s.grifork.Chdir}
	if d.Chdir == "" {
		d.Chdir = st.dir
	}
	switch {
	case len(tf) == len(files): // the binary is there
		if l != nil && len(tf) == 0 {
			return d, nil, sess.exec(l, d)
		}
	case seed != nil && bin == s.own && len(files) == 0:
		return d, nil, sess.seedWith(seed, l, d)
	default:
		s.log.Info("shipping grifork binary", "host", host.String(), "path", exe, "sha256", sum)
	}
	ran, err := sess.transfer(tf, st.paced, l, d)
	if err != nil && !ran {
		s.Cleanup(ctx, host, st.run)
		return Deployment{}, nil, err
	}
	return d, nil, err
}

// PlanExe is the grifork a Deploy would run, for dry-run plans: the parts only
// the host can tell (its uid) are placeholders.
func (s *Shipper) PlanExe() (exe, tmpdir string) {
	dir := s.grifork.Tmpdir
	if dir == "" {
		dir = "/tmp/grifork-<uid>"
	}
	exe = s.grifork.Exec
	if exe == "" {
		exe = path.Join(dir, "grifork-<sha256>")
		if sum, err := s.own.hash(); err == nil {
			exe = path.Join(dir, binaryName(sum))
		}
	}
	return exe, dir
}

func binaryName(sum string) string { return "grifork-" + sum[:12] }

// hash hashes the executable to ship, once.
func (b *shipBinary) hash() (string, error) {
	b.once.Do(func() {
		if b.path == "" {
			if b.path, b.err = os.Executable(); b.err != nil {
				b.err = fmt.Errorf("find grifork's own executable to ship: %w; set grifork { exec = ... }", b.err)
				return
			}
		}
		fh, err := os.Open(b.path)
		if err != nil {
			b.err = fmt.Errorf("read grifork's executable to ship: %w", err)
			return
		}
		defer fh.Close()
		h := sha256.New()
		if b.size, b.err = io.Copy(h, fh); b.err != nil {
			b.err = fmt.Errorf("read grifork's executable to ship: %w", b.err)
			return
		}
		b.sum = hex.EncodeToString(h.Sum(nil))
	})
	return b.sum, b.err
}

// binaryFor is the binary to ship to a host whose `uname -sm` is uname: own
// when it runs there, else one named grifork-GOOS-GOARCH for the host's
// platform, in grifork { binaries } or beside own (as `make build-all` leaves
// them); an error saying so when there is none.
func (s *Shipper) binaryFor(uname string) (*shipBinary, error) {
	if s.own.runsOn(uname) {
		return s.own, nil
	}
	goos, goarch, ok := platformOf(uname)
	if !ok {
		return nil, s.noBinaryError(uname)
	}
	if _, err := s.own.hash(); err != nil { // resolves own's path
		return nil, err
	}
	name := foreignName(goos, goarch)
	var dirs []string
	if s.grifork.Binaries != "" {
		dirs = append(dirs, s.grifork.Binaries)
	}
	dirs = append(dirs, filepath.Dir(s.own.path))
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		b := s.foreign[p]
		if b == nil {
			b = &shipBinary{goos: goos, goarch: goarch, path: p}
			if s.foreign == nil {
				s.foreign = map[string]*shipBinary{}
			}
			s.foreign[p] = b
		}
		return b, nil
	}
	return nil, s.noBinaryError(uname)
}

// samePlatform reports whether a and b, both deployed to already, run the
// same binary.
func (s *Shipper) samePlatform(a, b core.Host) bool {
	pa, _ := s.platform.Load(a.String())
	pb, _ := s.platform.Load(b.String())
	return pa == pb
}

// foreignName is the file name of a grifork built for goos/goarch.
func foreignName(goos, goarch string) string { return "grifork-" + goos + "-" + goarch }

// noBinaryError says that no grifork for a host's platform is at hand, and
// how to provide one (the caller names the host).
func (s *Shipper) noBinaryError(uname string) error {
	name := "grifork-GOOS-GOARCH"
	if goos, goarch, ok := platformOf(uname); ok {
		name = foreignName(goos, goarch)
	}
	return fmt.Errorf("host is %q but this grifork is built for %s/%s: install a grifork for that platform there and set grifork { exec = \"/path/to/grifork\" }, or put %s (make build-all builds it) beside this grifork or in the directory grifork { binaries } names",
		uname, s.own.goos, s.own.goarch, name)
}

// binMtime is the modification time a shipped binary gets (set by touch once
// its SHA-256 is checked, not by tar, which may be told not to), a function of its
// SHA-256 (a time in 2001-2009), so that a cached copy is recognised by a
// stat: a file written since, by whatever means, has another.
func binMtime(sum string) time.Time {
	b, err := hex.DecodeString(sum[:8])
	if err != nil || len(b) < 4 {
		return time.Unix(1e9, 0)
	}
	return time.Unix(1e9+int64(binary.BigEndian.Uint32(b)%(1<<28)), 0)
}

// cachedStamp is what `stat -c '%s %Y'` says of a valid cached copy.
func (b *shipBinary) cachedStamp() string {
	return fmt.Sprintf("%d %d", b.size, binMtime(b.sum).Unix())
}

// binaryGz compresses the binary's tar entry once per process: a node ships
// to several children, and gzip costs more CPU than the copy itself.
func (b *shipBinary) gzipped() ([]byte, error) {
	b.gzOnce.Do(func() {
		var buf bytes.Buffer
		gz, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		if err == nil {
			tw := tar.NewWriter(gz)
			err = writeEntry(tw, tarFile{name: newBinary, path: b.path, mode: 0o700})
			if err == nil {
				err = tw.Flush() // pads the entry; the trailer comes with the other files
			}
		}
		if err == nil {
			err = gz.Close()
		}
		if err != nil {
			b.gzErr = fmt.Errorf("compress grifork's executable to ship: %w", err)
			return
		}
		b.gz = buf.Bytes()
	})
	return b.gz, b.gzErr
}

// childState is what setup learned on the child.
type childState struct {
	uname  string // `uname -sm`
	dir    string // the tmpdir, absolute
	run    string // this fork's run directory
	cached string // `stat -c '%s %Y'` of the cached binary; "" when there is none
	paced  bool   // its dd reads exact pieces: a binary can travel paced (see transferPaced)
}

// deploySession is Deploy's one session on a host: setup's script, then the
// transfer's, reading what to do on its stdin (see deployScript).
type deploySession struct {
	ctx   context.Context
	s     *Shipper
	host  core.Host
	sum   string
	bin   *shipBinary // the binary sum is of, when one is to ship
	run   string      // the run directory, once setup has read it
	in    *io.PipeWriter
	out   *bufio.Reader
	acks  chan struct{} // a line the script wrote after setup: a piece was stored
	ended chan struct{}
	// Valid once ended is closed: the session writes no more after it returns.
	err    error
	stderr strings.Builder

	// hold: the output after setup's is not read as acknowledgements until
	// readAcks (it may be a launched command's).
	hold     bool
	acksOnce sync.Once
	errw     handoff // to stderr, or to a launched command's own
}

// start starts the session; sum, when set, names the cached binary to look
// for, and l, when set, is the command the script may run in its place.
func (s *Shipper) start(ctx context.Context, host core.Host, sum string, l *launch) *deploySession {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ds := &deploySession{ctx: ctx, s: s, host: host, sum: sum, in: inW, out: bufio.NewReader(outR), ended: make(chan struct{}), hold: l != nil}
	ds.errw.w = &ds.stderr
	cmd := ""
	if l != nil {
		cmd = `"$b"`
		if sum == "" {
			cmd = core.ShellQuote(s.grifork.Exec)
		}
		cmd += " " + core.ShellJoin(l.args)
	}
	go func() {
		ds.err = s.c.StartScript(ctx, host, s.deployScript(sum, cmd), l == nil, inR, outW, &ds.errw)
		inR.CloseWithError(io.ErrClosedPipe) // unblocks a writer if the command ended early
		outW.Close()
		close(ds.ended)
	}()
	return ds
}

// wait waits for the session's end and returns its error as step's.
func (ds *deploySession) wait(step string) error {
	<-ds.ended
	if ds.err == nil {
		return nil
	}
	return &stepError{step: step, err: ds.err, stderr: ds.stderr.String()}
}

// setup reads what the host reports once it has made the tmpdir and a run
// directory, and checks it.
func (ds *deploySession) setup() (childState, error) {
	kv := map[string]string{}
	var out strings.Builder
	for kv["run"] == "" {
		line, err := ds.out.ReadString('\n')
		out.WriteString(line)
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\n"), "="); ok {
			kv[k] = v
		}
		if err != nil {
			break
		}
	}
	if !ds.hold {
		ds.readAcks()
	}
	st := childState{uname: kv["uname"], dir: kv["dir"], run: kv["run"], cached: kv["cached"], paced: kv["paced"] == "yes"}
	ds.run = st.run
	if st.dir == "" || st.run == "" || kv["uid"] == "" {
		ds.in.Close()
		if err := ds.wait("prepare tmpdir"); err != nil {
			return st, err
		}
		return st, fmt.Errorf("prepare tmpdir: unexpected output %q%s", out.String(), sshx.StderrTail(ds.stderr.String()))
	}
	if err := checkTmpdir(kv["ls"], kv["parent"], kv["uid"]); err != nil {
		ds.abort()
		return st, fmt.Errorf("tmpdir %s: %w", st.dir, err)
	}
	if ls := kv["cachedls"]; ls != "" {
		if err := checkCached(ls, kv["uid"]); err != nil {
			ds.abort()
			return st, fmt.Errorf("cached grifork %s: %w", path.Join(st.dir, binaryName(ds.sum)), err)
		}
	}
	return st, nil
}

// readAcks reads what follows setup's output: the acknowledgements of a
// paced transfer, one line a piece; never more than maxPieces of them are
// waited for.
func (ds *deploySession) readAcks() {
	ds.acksOnce.Do(func() {
		ds.acks = make(chan struct{}, maxPieces)
		go func() {
			for {
				if _, err := ds.out.ReadString('\n'); err != nil {
					return
				}
				select {
				case ds.acks <- struct{}{}:
				default:
				}
			}
		}()
	})
}

// exec has the script run l's command in its place, in the run directory,
// and passes the command's streams until the session ends.
func (ds *deploySession) exec(l *launch, d Deployment) error {
	if _, err := io.WriteString(ds.in, "exec\n"); err != nil {
		return ds.pass(l, d, false)
	}
	return ds.pass(l, d, true)
}

// execVerified waits for the script to say that the binary it received is
// verified and cached, after which it runs l's command as exec does (the
// script was told so with the verb that named the file). ran says whether
// the command ran; if not, the session has ended, and the error is step's.
func (ds *deploySession) execVerified(l *launch, d Deployment, step string) (ran bool, err error) {
	if line, _ := ds.out.ReadString('\n'); line != verified+"\n" {
		ds.in.Close()
		if err := ds.wait(step); err != nil {
			return false, err
		}
		return false, fmt.Errorf("%s: unexpected output %q", step, line)
	}
	return true, ds.pass(l, d, true)
}

// verified is the line the deploy script writes once a binary it received
// as a file is cached, before it runs the command in its place.
const verified = "verified"

// pass passes l's command's streams (stdin too, with feed) until the
// session ends.
func (ds *deploySession) pass(l *launch, d Deployment, feed bool) error {
	l.ran = true
	l.started(d)
	ds.errw.set(l.stderr)
	if feed {
		go func() {
			_, err := io.Copy(ds.in, l.stdin)
			ds.in.CloseWithError(err)
		}()
	}
	io.Copy(l.stdout, ds.out)
	<-ds.ended
	var ce *sshx.CommandError
	if errors.As(ds.err, &ce) {
		// Named as the command it ran, not as the whole script.
		named := *ce
		named.Command = launchCmdline(d, l.args)
		return &named
	}
	if ds.err != nil && ds.ctx.Err() != nil {
		// sshx's error for a cancelled command quotes it: the script here.
		return fmt.Errorf("%s: command %s: %w", ds.host, launchCmdline(d, l.args), ds.ctx.Err())
	}
	return ds.err
}

// handoff writes to w, which set may replace.
type handoff struct {
	mu sync.Mutex
	w  io.Writer
}

func (h *handoff) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.w.Write(p)
}

func (h *handoff) set(w io.Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.w = w
}

// abort has the host remove the run directory and waits for it (the script
// then exits 1: only another failure is worth a warning).
func (ds *deploySession) abort() {
	ds.readAcks()
	io.WriteString(ds.in, "abort\n")
	ds.in.Close()
	if err := ds.wait("remove the run directory"); err != nil && !errors.As(err, new(*sshx.CommandError)) {
		ds.s.log.Warn("cannot remove run directory", "host", ds.host.String(), "err", err)
	}
}

// deployScript makes the tmpdir and a run directory and reports what the fork
// needs to know about the host, ending with the run= line. Then it reads a
// line: "none" (nothing to send), "tar" (a gzipped tar stream of files
// follows, which it unpacks into the run directory), "bin" (the same, with
// the binary to verify and move into the cache), "paced" (bin in pieces,
// each a line with its size, its bytes, and a line back once stored; a size
// of 0 ends them), "file" (bin, whose stream sftp wrote into the run
// directory as seedFile), "kept" (file, keeping seedFile for the relay to
// seed others with) or, with cmd, "exec" (run cmd in the run directory, in
// this session); anything else removes the run directory. With cmd, "file
// exec" and "kept exec" run cmd once the binary is cached, after a line
// saying so.
func (s *Shipper) deployScript(sum, cmd string) string {
	dirExpr := `/tmp/grifork-"$u"`
	switch t := s.grifork.Tmpdir; {
	case t == "~":
		dirExpr = `"$HOME"`
	case strings.HasPrefix(t, "~/"):
		dirExpr = `"$HOME"/` + core.ShellQuote(t[2:])
	case t != "":
		dirExpr = core.ShellQuote(t)
	}
	// Every process the script starts costs a fork and an exec on every host
	// of every run (about 5 ms of CPU each on the test fleet): one stat reads
	// the tmpdir, its parent and the cached binary where stat -c works, and
	// shell built-ins do the rest, reading Linux's /proc for the uid and the
	// platform; id, uname and ls -ldn do it elsewhere.
	var b strings.Builder
	fmt.Fprintf(&b, `umask 077
u= un=
while read -r k _ e _; do [ "$k" != Uid: ] || { u=$e; break; }; done 2>/dev/null </proc/self/status
[ -n "$u" ] || u=$(id -u)
{ read -r os </proc/sys/kernel/ostype && read -r m </proc/sys/kernel/arch && un="$os $m"; } 2>/dev/null
[ -n "$un" ] || un=$(uname -sm)
d=%s
[ -d "$d" ] || mkdir -p -m 0700 -- "$d" || exit 1
cd -- "$d" || exit 1
d=$PWD
p=${d%%/*}
[ -n "$p" ] || p=/
printf 'uid=%%s\ndir=%%s\nuname=%%s\n' "$u" "$d" "$un"
set -- "$p" "$d"
`, dirExpr)
	if sum != "" {
		fmt.Fprintf(&b, `b="$d"/%s
if [ -L "$b" ] || [ -e "$b" ]; then set -- "$@" "$b"; fi
`, binaryName(sum))
	}
	b.WriteString(`lb= c=
if x=$(stat -c '%A %h %u %g %s %Y' -- "$@" 2>/dev/null); then
{ read -r lp; read -r ld; read -r lb; } <<EOF
$x
EOF
if [ $# = 3 ] && [ -f "$b" ] && [ ! -L "$b" ]; then set -- $lb; c="$5 $6"; fi
else
lp=$(ls -ldn -- "$p") && ld=$(ls -ldn -- "$d") || exit 1
if [ $# = 3 ]; then lb=$(ls -ldn -- "$b"); fi
fi
printf 'ls=%s\nparent=%s\n' "$ld" "$lp"
`)
	if sum != "" {
		b.WriteString(`if [ -n "$lb" ]; then printf 'cachedls=%s\n' "$lb"; fi
if [ -f "$b" ] && [ ! -L "$b" ]; then printf 'cached=%s\n' "$c"
elif dd if=/dev/null of=/dev/null bs=1 count=0 iflag=fullblock status=none 2>/dev/null; then echo paced=yes; fi
`)
	}
	// tar says "Wrote only N of M bytes" when the disk fills up, which names no
	// cause: say it when almost nothing is left. -m: the files' times do not
	// matter, and a clock a little behind would make tar warn of each. A failed
	// tar (also the root dying mid-transfer: the stream ends) removes the run
	// directory itself, since no grifork will run there to do it.
	// Stopped (the wrapper's TERM on a cancel) before the run directory is
	// handed on, the script removes it: the root may not have read its name.
	// exec, which hands it on, drops the trap.
	b.WriteString(`r=
trap 'cd / && [ -z "$r" ] || rm -rf -- "$r"; exit 1' HUP INT TERM
r=$(mktemp -d -- "$d/run-XXXXXXXXXX") || exit 1
printf 'run=%s\n' "$r"
read -r what next || what=abort
`)
	if cmd != "" {
		// Launch: the command runs in this session, in the run directory.
		fmt.Fprintf(&b, "[ \"$what\" != exec ] || { cd -- \"$r\" && exec %s; exit 1; }\n", cmd)
	}
	b.WriteString(`src=-
keep=
case $what in
none) exit 0 ;;
tar|bin) ;;
file|kept) src="$r"/grifork.tgz; [ "$what" = file ] || keep=1; what=bin ;;
paced)
	src="$r"/.paced
	: >"$src" || exit 1
	while read -r n && [ "$n" != 0 ]; do
		dd bs="$n" count=1 iflag=fullblock status=none >>"$src" || { cd / && rm -rf -- "$r"; exit 1; }
		echo ok
	done
	what=bin ;;
*) cd / && rm -rf -- "$r"; exit 1 ;;
esac
cd -- "$r" || exit 1
tar -xzmof "$src" || { full=$(df -Pk . | awk 'NR == 2 && $4 < 1024 { print "No space left on device: " $4 " KiB free on " $6 }'); cd / && rm -rf -- "$r"; [ -z "$full" ] || echo "$full" >&2; exit 1; }
[ "$src" = - ] || [ -n "$keep" ] || rm -f -- "$src"
[ "$what" = bin ] || exit 0
`)
	if sum != "" {
		fmt.Fprintf(&b, `s=$( (sha256sum || shasum -a 256) <%[1]s 2>/dev/null | cut -d' ' -f1)
[ "$s" = %[2]s ] || { echo "shipped grifork has SHA-256 '$s', want %[2]s" >&2; exit 1; }
chmod 755 %[1]s && TZ=UTC0 touch -t %[4]s %[1]s && mv -f %[1]s "$d"/%[3]s || exit 1
`, newBinary, sum, binaryName(sum), binMtime(sum).UTC().Format("200601021504.05"))
		if cmd != "" {
			// "file exec", "kept exec": the command runs in this session too,
			// once the binary is where it looks for it.
			fmt.Fprintf(&b, "[ \"$next\" != exec ] || { echo %s; exec %s; }\n", verified, cmd)
		}
	}
	return b.String()
}

// checkTmpdir refuses a tmpdir that someone else could write into: a symlink,
// another user's directory, one writable by group or others, or one whose
// parent others can write to without the sticky bit (they could rename it and
// put their own in its place). ls and parent are the `ls -ldn` lines of the
// directory and its parent.
func checkTmpdir(ls, parent, uid string) error {
	mode, owner, err := modeOwner(ls)
	if err != nil {
		return err
	}
	pmode, _, err := modeOwner(parent)
	if err != nil {
		return fmt.Errorf("parent: %w", err)
	}
	switch {
	case mode[0] == 'l':
		return errors.New("is a symbolic link; give grifork { tmpdir } a real directory")
	case mode[0] != 'd':
		return errors.New("is not a directory")
	case owner != uid:
		return fmt.Errorf("belongs to uid %s, not to the login user (uid %s)", owner, uid)
	case mode[5] == 'w' || mode[8] == 'w':
		return fmt.Errorf("is writable by others (%s); make it mode 0700", mode)
	case pmode[8] == 'w' && pmode[9] != 't' && pmode[9] != 'T':
		return fmt.Errorf("is in a directory writable by others without the sticky bit (%s); choose another grifork { tmpdir }", pmode)
	}
	return nil
}

// checkCached refuses a cached binary that is a symlink or not the login
// user's: running it would run what someone else chose. ls is its `ls -ldn`
// line.
func checkCached(ls, uid string) error {
	mode, owner, err := modeOwner(ls)
	switch {
	case err != nil:
		return err
	case mode[0] == 'l':
		return errors.New("is a symbolic link; remove it")
	case owner != uid:
		return fmt.Errorf("belongs to uid %s, not to the login user (uid %s); remove it", owner, uid)
	}
	return nil
}

// modeOwner reads the mode and the owner's uid from an `ls -ldn` line.
func modeOwner(ls string) (mode, owner string, err error) {
	fields := strings.Fields(ls)
	if len(fields) < 3 || len(fields[0]) < 10 {
		return "", "", fmt.Errorf("cannot read its mode and owner from %q", ls)
	}
	return fields[0], fields[2], nil
}

// shipTo checks that the binary can run on host and returns its path there;
// it adds the binary to files when the host's cache lacks it.
func (s *Shipper) shipTo(host core.Host, st childState, bin *shipBinary, files *[]tarFile) (string, error) {
	if !bin.runsOn(st.uname) {
		return "", s.noBinaryError(st.uname)
	}
	dst := path.Join(st.dir, binaryName(bin.sum))
	if st.cached == bin.cachedStamp() {
		s.log.Debug("grifork binary already on host", "host", host.String(), "path", dst)
		return dst, nil
	}
	*files = append(*files, tarFile{name: newBinary, path: bin.path})
	return dst, nil
}

// newBinary is the name of a shipped binary in the run directory until its
// checksum is verified and it is moved into the cache.
const newBinary = "grifork.new"

type tarFile struct {
	name string
	data []byte // or the contents of path
	path string
	mode int64 // 0600 when 0
}

// transfer sends files into the run directory as one gzipped tar stream on
// the session, and has the host move a shipped binary into the cache once its
// SHA-256 is checked. (Every session costs a login shell on the host, so one
// beats one per file, or one for the setup and one for the files.) With l,
// where the binary travels as a file (over SFTP), l's command then runs in
// the session (see execVerified), and ran says so; else the caller starts it.
func (ds *deploySession) transfer(files []tarFile, paced bool, l *launch, d Deployment) (ran bool, err error) {
	what := "tar"
	var binGz []byte // the binary's entry, compressed already
	var rest []tarFile
	for _, file := range files {
		if file.name == newBinary {
			var err error
			if binGz, err = ds.bin.gzipped(); err != nil {
				ds.abort()
				return false, err
			}
			what = "bin"
			continue
		}
		rest = append(rest, file)
	}
	if len(files) == 0 {
		what = "none"
	}
	step := "tar into " + ds.run
	// Compressed: the binary is most of the bytes and shrinks by half, and each
	// generation ships it again over links that are the bottleneck.
	// flate writes in pieces of a few hundred bytes: buffer them into
	// packet-sized writes, or the pipe and the channel crawl.
	var w io.Writer = ds.in
	var others *bytes.Buffer // sftp or paced: the other files' member, sent after binGz
	if what == "bin" && (paced || ds.s.sftpOK(ds.host)) {
		others = new(bytes.Buffer)
		w = others
	} else {
		ds.readAcks() // no command's output follows
	}
	buf := bufio.NewWriterSize(w, 256<<10)
	if others == nil {
		_, err = buf.WriteString(what + "\n")
	}
	if err == nil && what != "none" {
		// Two gzip members, which gzip -d reads as one stream: the binary's
		// entry (compressed once for every child) and the other files.
		if others == nil {
			_, err = buf.Write(binGz)
		}
		var gz *gzip.Writer
		if err == nil {
			gz, err = gzip.NewWriterLevel(buf, gzip.BestSpeed)
		}
		if err == nil {
			err = writeTar(gz, rest)
		}
		if err == nil {
			err = gz.Close()
		}
	}
	if err == nil {
		err = buf.Flush()
	}
	launch := false
	if err == nil && others != nil {
		launch, err = ds.transferFile(binGz, others.Bytes(), paced, len(rest) == 0, l != nil)
	}
	if err == nil && launch {
		return ds.execVerified(l, d, step)
	}
	ds.in.CloseWithError(err)
	if werr := ds.wait(step); werr != nil {
		return false, werr
	}
	if err != nil && !errors.Is(err, io.ErrClosedPipe) {
		return false, fmt.Errorf("%s: %w", step, err)
	}
	return false, nil
}

// A paced transfer keeps at most pieceWindow pieces of pieceSize on their way
// to the host before it has stored them. Written at once, the binary fills the
// SSH channel's window (2 MiB in OpenSSH) whenever the host's tar is slower
// than the link, and the host's sshd then grows its channel buffer a packet at
// a time, copying it whole into fresh memory at each growth: on a cold start
// that cost the fleet's sshd more CPU than the whole warm broadcast
// (docs/internals.md). maxPieces bounds the acknowledgements waited for.
const (
	pieceSize   = 128 << 10
	pieceWindow = 4
	maxPieces   = 1 << 14
)

// seedWith has seed put the compressed binary into the run directory, and
// the host verify and cache it as after a transfer, then run l's command in
// the session (see execVerified); the error is then the command's. A seeding
// that fails (also one the host does not verify) leaves no run directory and
// is a *seedError, after which Launch ships the binary itself.
func (ds *deploySession) seedWith(seed Seed, l *launch, d Deployment) error {
	if err := seed(ds.ctx, path.Join(ds.run, seedFile)); err != nil {
		ds.abort()
		if ds.ctx.Err() != nil {
			// Stopped, the session may not have removed it.
			ds.s.Cleanup(ds.ctx, ds.host, ds.run)
			return err
		}
		return &seedError{err}
	}
	if _, err := io.WriteString(ds.in, "kept exec\n"); err != nil {
		ds.in.CloseWithError(err)
	}
	ran, err := ds.execVerified(l, d, "verify the seeded grifork in "+ds.run)
	if err != nil && !ran {
		ds.s.Cleanup(ds.ctx, ds.host, ds.run)
		if ds.ctx.Err() == nil {
			return &seedError{err}
		}
	}
	return err
}

// seedStream is what a seeder puts into a host's run directory: the
// gzipped tar stream of a transfer holding bin alone, as the file kept
// holds it when it can be read (the seedFile the seeder's host kept), or
// else compressed anew.
func seedStream(bin *shipBinary, kept string) ([][]byte, error) {
	if kept != "" {
		if b, err := os.ReadFile(kept); err == nil {
			return [][]byte{b}, nil
		}
	}
	if _, err := bin.hash(); err != nil { // finds the executable
		return nil, err
	}
	gz, err := bin.gzipped()
	if err != nil {
		return nil, err
	}
	var end bytes.Buffer
	w := gzip.NewWriter(&end)
	if err := writeTar(w, nil); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return [][]byte{gz, end.Bytes()}, nil
}

// seedFile is where, in the run directory, a binary sent as a file lands
// before tar unpacks it. A relay keeps it there: it is what the relay seeds
// other hosts with (see seedStream), compressed already.
const seedFile = "grifork.tgz"

// sftpPacket is the size of one SFTP write: pkg/sftp's default, and the
// largest every server must accept.
const sftpPacket = 32 << 10

// sftpOK reports whether host may offer the sftp subsystem: none of this
// Shipper's sessions was refused it yet.
func (s *Shipper) sftpOK(host core.Host) bool {
	_, refused := s.noSFTP.Load(host.String())
	return !refused
}

// transferFile sends binGz and others (the two members of a gzipped tar
// stream holding the binary; keep: and no other file) into the run
// directory as one file: with SFTP
// where the host's sshd offers it (one sftp-server writes every piece, each
// acknowledged, so at most pieceWindow*pieceSize bytes are on their way, as
// in a paced transfer, without a dd process per piece), else paced where its
// dd can, else streamed into tar. With launch, where it went over SFTP, the
// script is told to run the command once it verified the binary: launched.
func (ds *deploySession) transferFile(binGz, others []byte, paced, keep, launch bool) (launched bool, err error) {
	err = ds.sendSFTP(binGz, others)
	if err == nil {
		what := "file"
		if keep {
			what = "kept" // the binary alone: a relay's seedFile
		}
		if launch {
			what += " exec"
		} else {
			ds.readAcks() // no command's output follows
		}
		_, err = io.WriteString(ds.in, what+"\n")
		return launch, err
	}
	if ds.ctx.Err() != nil {
		return false, err
	}
	ds.s.log.Debug("sftp refused: shipping grifork through the deploy session", "host", ds.host.String(), "err", err)
	ds.readAcks() // a paced transfer's, and then no command's output
	if paced {
		return false, ds.transferPaced(binGz, others)
	}
	for _, b := range [][]byte{[]byte("bin\n"), binGz, others} {
		if _, err := ds.in.Write(b); err != nil {
			return false, err
		}
	}
	return false, nil
}

// sendSFTP writes parts into the run directory's seedFile over SFTP.
func (ds *deploySession) sendSFTP(parts ...[]byte) error {
	err := putSFTP(ds.ctx, ds.s.c, ds.host, path.Join(ds.run, seedFile), parts...)
	if errors.Is(err, sshx.ErrNoSubsystem) {
		ds.s.noSFTP.Store(ds.host.String(), true)
	}
	return err
}

// putSFTP writes parts into a new file on host over SFTP, at most
// pieceWindow*pieceSize bytes unacknowledged.
func putSFTP(ctx context.Context, c *sshx.Client, host core.Host, file string, parts ...[]byte) error {
	ss, err := c.Subsystem(ctx, host, "sftp")
	if err != nil {
		return err
	}
	defer ss.Close()
	window := pieceWindow * pieceSize / sftpPacket
	sc, err := sftp.NewClientPipe(ss, ss.In, sftp.MaxPacket(sftpPacket), sftp.UseConcurrentWrites(true), sftp.MaxConcurrentRequestsPerFile(window))
	if err != nil {
		return fmt.Errorf("sftp: %w", err)
	}
	defer sc.Close()
	f, err := sc.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("sftp: %w", err)
	}
	readers := make([]io.Reader, len(parts))
	for i, p := range parts {
		readers[i] = bytes.NewReader(p)
	}
	_, err = f.ReadFromWithConcurrency(io.MultiReader(readers...), window)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sftp: %w", err)
	}
	return nil
}

// transferPaced sends parts (a gzipped tar stream) in pieces, each once fewer
// than pieceWindow are unacknowledged.
func (ds *deploySession) transferPaced(parts ...[]byte) error {
	if _, err := io.WriteString(ds.in, "paced\n"); err != nil {
		return err
	}
	out, n := 0, 0
	for _, data := range parts {
		for len(data) > 0 {
			if n++; n > maxPieces {
				return errors.New("too much to ship in a paced transfer")
			}
			if out == pieceWindow {
				select {
				case <-ds.acks:
					out--
				case <-ds.ended:
					return io.ErrClosedPipe // the session's error says why
				}
			}
			p := data[:min(pieceSize, len(data))]
			data = data[len(p):]
			if _, err := fmt.Fprintf(ds.in, "%d\n", len(p)); err != nil {
				return err
			}
			if _, err := ds.in.Write(p); err != nil {
				return err
			}
			out++
		}
	}
	_, err := io.WriteString(ds.in, "0\n")
	return err
}

// stepError is a failed step of Deploy's session: named, with the line of its
// stderr that says why, and not the script (a CommandError quotes it whole).
type stepError struct {
	step   string
	err    error
	stderr string
}

func (e *stepError) Error() string {
	reason := e.err.Error()
	var ce *sshx.CommandError
	switch {
	case errors.As(e.err, &ce) && ce.Signal != "":
		reason = "killed by signal " + ce.Signal
	case errors.As(e.err, &ce) && ce.ExitStatus >= 0:
		reason = fmt.Sprintf("exit status %d", ce.ExitStatus)
	case errors.As(e.err, &ce):
		reason = ce.Err.Error()
	case errors.Is(e.err, context.Canceled):
		reason = context.Canceled.Error()
	case errors.Is(e.err, context.DeadlineExceeded):
		reason = context.DeadlineExceeded.Error()
	}
	return e.step + ": " + reason + sshx.StderrTail(e.stderr)
}

func (e *stepError) Unwrap() error { return e.err }

func writeTar(w io.Writer, files []tarFile) error {
	tw := tar.NewWriter(w)
	for _, file := range files {
		if err := writeEntry(tw, file); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, file tarFile) error {
	mode := file.mode
	if mode == 0 {
		mode = 0o600
	}
	var r io.Reader = bytes.NewReader(file.data)
	size := int64(len(file.data))
	if file.path != "" {
		fh, err := os.Open(file.path)
		if err != nil {
			return err
		}
		defer fh.Close()
		fi, err := fh.Stat()
		if err != nil {
			return err
		}
		r, size = fh, fi.Size()
	}
	if err := tw.WriteHeader(&tar.Header{Name: file.name, Mode: mode, Size: size, Typeflag: tar.TypeReg, ModTime: time.Now()}); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, r, size); err != nil {
		return fmt.Errorf("%s: %w", file.name, err)
	}
	return nil
}

// unameArch maps GOARCH to what `uname -m` says on that machine.
var unameArch = map[string][]string{
	"amd64":   {"x86_64", "amd64"},
	"arm64":   {"aarch64", "arm64"},
	"386":     {"i386", "i486", "i586", "i686", "i86pc"},
	"arm":     {"armv5l", "armv6l", "armv7l", "armv8l", "arm"},
	"riscv64": {"riscv64"},
	"ppc64le": {"ppc64le"},
	"ppc64":   {"ppc64"},
	"s390x":   {"s390x"},
	"loong64": {"loongarch64"},
	"mips64":  {"mips64"},
}

// runsOn reports whether `uname -sm` output describes the binary's platform.
func (b *shipBinary) runsOn(uname string) bool {
	goos, goarch, ok := platformOf(uname)
	return ok && goos == b.goos && goarch == b.goarch
}

// platformOf reads GOOS and GOARCH from `uname -sm` output; ok is false when
// it is not two words.
func platformOf(uname string) (goos, goarch string, ok bool) {
	fields := strings.Fields(uname)
	if len(fields) != 2 {
		return "", "", false
	}
	goos, goarch = strings.ToLower(fields[0]), fields[1]
	for arch, ms := range unameArch {
		if slices.Contains(ms, fields[1]) {
			goarch = arch
		}
	}
	return goos, goarch, true
}

// Cleanup removes the run directory, also after ctx was cancelled, within
// cleanupTimeout.
// Also removes the other paths given (what a killed process left).
func (s *Shipper) Cleanup(ctx context.Context, host core.Host, run string, also ...string) {
	if run == "" {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.c.Start(cctx, host, "rm -rf -- "+core.ShellJoin(append([]string{run}, also...)), nil, nil, nil); err != nil {
		s.log.Warn("cannot remove run directory", "host", host.String(), "dir", run, "err", err)
	}
}
