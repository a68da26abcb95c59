package node

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/sshx"
)

// ForkOptions configures a Forker.
type ForkOptions struct {
	// Grifork is the grifork { chdir, tmpdir, exec, user } directive.
	Grifork core.GriforkConfig
	// Griforkfile and Override are the file contents every child receives;
	// Override nil means none.
	Griforkfile []byte
	Override    []byte
	// Binary is the executable shipped to children when Grifork.Exec is empty:
	// os.Executable() when "".
	Binary string
	// Logger logs each fork; nil discards.
	Logger *slog.Logger
}

// Forker is the real core.Forker: it starts grifork --on-remote on a child over
// the Client's connection to it.
//
// On the child it uses a directory of the login user's own (grifork { tmpdir },
// default /tmp/grifork-<uid>; created mode 0700 and refused when it is a
// symlink, someone else's, or writable by others). Unless grifork { exec } names
// the command to run, it ships its own executable there as grifork-<sha256[:12]>
// (only when no file with that SHA-256 is there yet; the copy is verified) after
// checking that `uname -sm` matches the binary's OS and architecture. The
// subtree and the Griforkfile(s) go into a fresh run-<random> directory, removed
// when the fork ends; the cached binary stays for the next run.
//
// The remote grifork's standard output is the event stream; its standard error
// becomes output events of the child. Its standard input stays open while the
// fork runs, so the remote grifork can take EOF for a lost parent and stop.
type Forker struct {
	c    *sshx.Client
	opts ForkOptions
	log  *slog.Logger

	// The binary's platform; a field so tests can play a foreign one.
	goos, goarch string

	binOnce sync.Once
	binPath string
	binSum  string // hex SHA-256
	binErr  error
}

// NewForker returns a Forker on c.
func NewForker(c *sshx.Client, opts ForkOptions) *Forker {
	f := &Forker{c: c, opts: opts, log: opts.Logger, goos: runtime.GOOS, goarch: runtime.GOARCH}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f
}

const (
	treeFile     = "tree.json"
	mainFile     = "Griforkfile.lua"
	overrideFile = "override.lua"
	// cleanupTimeout bounds the removal of a run directory, which also runs after
	// a cancellation, when the user is waiting for grifork to exit.
	cleanupTimeout = 5 * time.Second
)

// Fork implements core.Forker.
func (f *Forker) Fork(ctx context.Context, parent, child *core.Node, sub *core.Tree, events func(core.Event)) error {
	host := f.loginHost(child)
	treeJSON, err := core.MarshalTree(sub)
	if err != nil {
		return fmt.Errorf("encode subtree: %w", err)
	}
	exe := f.opts.Grifork.Exec
	var sum string
	if exe == "" {
		if sum, err = f.binary(); err != nil {
			return err
		}
	}
	st, err := f.setup(ctx, host, sum)
	if err != nil {
		return err
	}
	defer f.cleanup(ctx, host, st.run)

	files := []tarFile{{name: treeFile, data: treeJSON}, {name: mainFile, data: f.opts.Griforkfile}}
	if f.opts.Override != nil {
		files = append(files, tarFile{name: overrideFile, data: f.opts.Override})
	}
	if exe == "" {
		if exe, err = f.shipTo(host, st, sum, &files); err != nil {
			return err
		}
	}
	if err := f.transfer(ctx, host, st, sum, files); err != nil {
		return err
	}
	chdir := f.opts.Grifork.Chdir
	if chdir == "" {
		chdir = st.dir
	}
	cmdline := forkCmdline(chdir, exe, st.run, f.opts.Override != nil)
	f.log.Info("fork", "host", host.String(), "node", child.ID, "command", cmdline)
	return f.run(ctx, host, child, cmdline, events)
}

// loginHost is child's host with grifork { user } as the login when set.
func (f *Forker) loginHost(child *core.Node) core.Host {
	h := child.Host
	if f.opts.Grifork.User != "" {
		h.User = f.opts.Grifork.User
	}
	return h
}

func forkCmdline(chdir, exe, run string, override bool) string {
	args := []string{exe, "--on-remote", "--tree", path.Join(run, treeFile), "-f", path.Join(run, mainFile)}
	if override {
		args = append(args, "-o", path.Join(run, overrideFile))
	}
	return "cd " + core.ShellQuote(chdir) + " && exec " + core.ShellJoin(args)
}

// PlanCmdline is the command a fork to child would run, for the dry-run plan:
// the parts only the child can tell (its uid, the random run directory) are
// shown as placeholders.
func (f *Forker) PlanCmdline(child *core.Node) string {
	dir := f.opts.Grifork.Tmpdir
	if dir == "" {
		dir = "/tmp/grifork-<uid>"
	}
	exe := f.opts.Grifork.Exec
	if exe == "" {
		exe = path.Join(dir, "grifork-<sha256>")
		if sum, err := f.binary(); err == nil {
			exe = path.Join(dir, binaryName(sum))
		}
	}
	chdir := f.opts.Grifork.Chdir
	if chdir == "" {
		chdir = dir
	}
	cmd := forkCmdline(chdir, exe, path.Join(dir, "run-XXXXXXXXXX"), f.opts.Override != nil)
	if u := f.opts.Grifork.User; u != "" {
		cmd += "  (as " + u + ")"
	}
	return cmd
}

func binaryName(sum string) string { return "grifork-" + sum[:12] }

// binary hashes the executable to ship, once.
func (f *Forker) binary() (string, error) {
	f.binOnce.Do(func() {
		p := f.opts.Binary
		if p == "" {
			if p, f.binErr = os.Executable(); f.binErr != nil {
				f.binErr = fmt.Errorf("find grifork's own executable to ship: %w; set grifork { exec = ... }", f.binErr)
				return
			}
		}
		f.binPath = p
		fh, err := os.Open(p)
		if err != nil {
			f.binErr = fmt.Errorf("read grifork's executable to ship: %w", err)
			return
		}
		defer fh.Close()
		h := sha256.New()
		if _, err := io.Copy(h, fh); err != nil {
			f.binErr = fmt.Errorf("read grifork's executable to ship: %w", err)
			return
		}
		f.binSum = hex.EncodeToString(h.Sum(nil))
	})
	return f.binSum, f.binErr
}

// childState is what setup learned on the child.
type childState struct {
	uname  string // `uname -sm`
	dir    string // the tmpdir, absolute
	run    string // this fork's run directory
	cached string // SHA-256 of the cached binary; "" when there is none
}

// setup makes the tmpdir and a run directory on host in one session and reports
// what the fork needs to know about the host. sum, when set, names the cached
// binary to look for.
func (f *Forker) setup(ctx context.Context, host core.Host, sum string) (childState, error) {
	dirExpr := `/tmp/grifork-"$(id -u)"`
	switch t := f.opts.Grifork.Tmpdir; {
	case t == "~":
		dirExpr = `"$HOME"`
	case strings.HasPrefix(t, "~/"):
		dirExpr = `"$HOME"/` + core.ShellQuote(t[2:])
	case t != "":
		dirExpr = core.ShellQuote(t)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `umask 077
d=%s
mkdir -p -m 0700 -- "$d" || exit 1
printf 'ls=%%s\n' "$(ls -ldn -- "$d")"
printf 'uid=%%s\n' "$(id -u)"
d=$(cd -- "$d" && pwd) || exit 1
printf 'dir=%%s\n' "$d"
printf 'uname=%%s\n' "$(uname -sm)"
`, dirExpr)
	if sum != "" {
		fmt.Fprintf(&b, `b="$d"/%s
if [ -f "$b" ]; then printf 'cached=%%s\n' "$( (sha256sum || shasum -a 256) <"$b" 2>/dev/null | cut -d' ' -f1)"; fi
`, binaryName(sum))
	}
	b.WriteString(`r=$(mktemp -d -- "$d/run-XXXXXXXXXX") || exit 1
printf 'run=%s\n' "$r"
`)
	var out, errOut strings.Builder
	if err := f.c.Start(ctx, host, "/bin/sh -c "+core.ShellQuote(b.String()), nil, &out, &errOut); err != nil {
		return childState{}, fmt.Errorf("prepare tmpdir: %w%s", err, sshx.StderrTail(errOut.String()))
	}
	kv := map[string]string{}
	for line := range strings.Lines(out.String()) {
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\n"), "="); ok {
			kv[k] = v
		}
	}
	st := childState{uname: kv["uname"], dir: kv["dir"], run: kv["run"], cached: kv["cached"]}
	if st.dir == "" || st.run == "" || kv["uid"] == "" {
		return st, fmt.Errorf("prepare tmpdir: unexpected output %q%s", out.String(), sshx.StderrTail(errOut.String()))
	}
	if err := checkTmpdir(kv["ls"], kv["uid"]); err != nil {
		f.cleanup(ctx, host, st.run)
		return st, fmt.Errorf("tmpdir %s: %w", st.dir, err)
	}
	return st, nil
}

// checkTmpdir refuses a tmpdir that someone else could write into: a symlink,
// another user's directory, or one writable by group or others. ls is the
// directory's `ls -ldn` line.
func checkTmpdir(ls, uid string) error {
	fields := strings.Fields(ls)
	if len(fields) < 3 || len(fields[0]) < 10 {
		return fmt.Errorf("cannot read its mode and owner from %q", ls)
	}
	mode, owner := fields[0], fields[2]
	switch {
	case mode[0] == 'l':
		return errors.New("is a symbolic link; give grifork { tmpdir } a real directory")
	case mode[0] != 'd':
		return errors.New("is not a directory")
	case owner != uid:
		return fmt.Errorf("belongs to uid %s, not to the login user (uid %s)", owner, uid)
	case mode[5] == 'w' || mode[8] == 'w':
		return fmt.Errorf("is writable by others (%s); make it mode 0700", mode)
	}
	return nil
}

// shipTo checks that the binary can run on host and returns its path there;
// it adds the binary to files when the host's cache lacks it.
func (f *Forker) shipTo(host core.Host, st childState, sum string, files *[]tarFile) (string, error) {
	if !f.platformMatches(st.uname) {
		return "", fmt.Errorf("host is %q but this grifork is built for %s/%s: install a grifork for that platform there and set grifork { exec = \"/path/to/grifork\" }",
			st.uname, f.goos, f.goarch)
	}
	dst := path.Join(st.dir, binaryName(sum))
	if st.cached == sum {
		f.log.Debug("grifork binary already on host", "host", host.String(), "path", dst)
		return dst, nil
	}
	f.log.Info("shipping grifork binary", "host", host.String(), "path", dst, "sha256", sum)
	*files = append(*files, tarFile{name: newBinary, path: f.binPath, mode: 0o700})
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

// transfer sends files into the run directory as one gzipped tar stream over one
// session, and moves a shipped binary into the cache once its SHA-256 is
// checked. (Every session costs a login shell on the host, so one beats one per
// file.)
func (f *Forker) transfer(ctx context.Context, host core.Host, st childState, sum string, files []tarFile) error {
	script := "umask 077\ncd " + core.ShellQuote(st.run) + " || exit 1\ntar -xzof - || exit 1\n"
	for _, file := range files {
		if file.name == newBinary {
			script += fmt.Sprintf(`s=$( (sha256sum || shasum -a 256) <%[1]s 2>/dev/null | cut -d' ' -f1)
[ "$s" = %[2]s ] || { echo "shipped grifork has SHA-256 '$s', want %[2]s" >&2; exit 1; }
chmod 755 %[1]s && mv -f %[1]s %[3]s
`, newBinary, sum, core.ShellQuote(path.Join(st.dir, binaryName(sum))))
		}
	}
	pr, pw := io.Pipe()
	wrote := make(chan error, 1)
	go func() {
		// Compressed: the binary is most of the bytes and shrinks by half, and each
		// generation ships it again over links that are the bottleneck.
		// flate writes in pieces of a few hundred bytes: buffer them into
		// packet-sized writes, or the pipe and the channel crawl.
		buf := bufio.NewWriterSize(pw, 256<<10)
		gz, err := gzip.NewWriterLevel(buf, gzip.BestSpeed)
		if err == nil {
			err = writeTar(gz, files)
		}
		if err == nil {
			err = gz.Close()
		}
		if err == nil {
			err = buf.Flush()
		}
		pw.CloseWithError(err)
		wrote <- err
	}()
	var errOut strings.Builder
	err := f.c.Start(ctx, host, "/bin/sh -c "+core.ShellQuote(script), pr, nil, &errOut)
	pr.CloseWithError(io.ErrClosedPipe) // unblocks the writer if the command ended early
	werr := <-wrote
	switch {
	case err != nil:
		return fmt.Errorf("send files to %s: %w%s", st.run, err, sshx.StderrTail(errOut.String()))
	case werr != nil && !errors.Is(werr, io.ErrClosedPipe):
		return fmt.Errorf("send files to %s: %w", st.run, werr)
	}
	return nil
}

func writeTar(w io.Writer, files []tarFile) error {
	tw := tar.NewWriter(w)
	for _, file := range files {
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
	}
	return tw.Close()
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

// platformMatches reports whether `uname -sm` output describes the binary's
// platform.
func (f *Forker) platformMatches(uname string) bool {
	fields := strings.Fields(uname)
	if len(fields) != 2 || !strings.EqualFold(fields[0], f.goos) {
		return false
	}
	for _, m := range unameArch[f.goarch] {
		if fields[1] == m {
			return true
		}
	}
	return fields[1] == f.goarch
}

// run starts the remote grifork and relays its events until it ends.
func (f *Forker) run(ctx context.Context, host core.Host, child *core.Node, cmdline string, events func(core.Event)) error {
	var mu sync.Mutex // events is called one at a time
	deliver := func(ev core.Event) {
		mu.Lock()
		defer mu.Unlock()
		events(ev)
	}
	stderr := sshx.NewTailWriter(func(line string) {
		deliver(core.Event{Type: core.EventOutput, NodeID: child.ID, Host: child.Name(), Line: line, Stream: "stderr"})
	})
	outR, outW := io.Pipe()
	read := make(chan error, 1)
	go func() {
		err := core.ReadEvents(outR, child, deliver)
		io.Copy(io.Discard, outR) // a broken stream must not stall the session
		read <- err
	}()
	// Kept open until the fork ends: its EOF tells the remote grifork that its
	// parent is gone.
	inR, inW := io.Pipe()
	err := f.c.Start(ctx, host, cmdline, inR, outW, stderr)
	inW.Close()
	outW.Close()
	readErr := <-read
	stderr.Close()
	switch {
	case err != nil:
		var ce *sshx.CommandError
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("remote grifork: %w", ctx.Err())
		case errors.As(err, &ce) && ce.Signal != "":
			return fmt.Errorf("remote grifork killed by signal %s%s", ce.Signal, sshx.StderrTail(stderr.Last()))
		case errors.As(err, &ce) && ce.ExitStatus >= 0:
			return fmt.Errorf("remote grifork exited with status %d%s", ce.ExitStatus, sshx.StderrTail(stderr.Last()))
		}
		return fmt.Errorf("remote grifork: %w%s", err, sshx.StderrTail(stderr.Last()))
	case readErr != nil:
		return readErr
	}
	return nil
}

// cleanup removes the run directory, also after ctx was cancelled, within
// cleanupTimeout.
func (f *Forker) cleanup(ctx context.Context, host core.Host, run string) {
	if run == "" {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := f.c.Start(cctx, host, "rm -rf -- "+core.ShellQuote(run), nil, nil, nil); err != nil {
		f.log.Warn("cannot remove run directory", "host", host.String(), "dir", run, "err", err)
	}
}
