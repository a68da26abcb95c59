package sshx

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/grifork/grifork/core"
)

// An rsync that grifork runs (Local) does not start OpenSSH to reach its
// destination: its --rsh is grifork itself, as RshName, and that process hands
// its standard streams (SCM_RIGHTS) to the grifork that started the rsync,
// over a unix socket in a private directory. That grifork runs the remote
// command in a session on its own connection to the host (the one ssh() and
// the fork use), with the wrapper of Start, and replies with how it ended. So a
// tree edge costs no ssh process, no sshd connection and no key exchange.
//
// The remote shell's life is rsync's: when rsync's process group is killed
// (a cancelled task, a command timeout), the relay process dies, its socket
// closes, and the session is cancelled, which kills the remote command's
// process group.
const (
	// RshName is the name grifork answers to as rsync's remote shell.
	RshName = "grifork-rsh"
	// rshSocketEnv holds the relay's socket, in the environment of Local's commands.
	rshSocketEnv = "GRIFORK_RSH_SOCKET"
	// rshFailed is the exit status of ssh for its own failures: rsync says
	// "connection unexpectedly closed" or "error in rsync protocol data stream".
	rshFailed = 255
)

type rshRequest struct {
	Host    string `json:"host"`
	User    string `json:"user,omitempty"`
	Port    int    `json:"port,omitempty"`
	Command string `json:"command"`
}

type rshReply struct {
	Status int    `json:"status"`
	Err    string `json:"err,omitempty"`
}

// relay is the listening side: the directory holds the socket and RshName, a
// link to this executable, and is put first on the PATH of Local's commands.
type relay struct {
	dir string
	ln  *net.UnixListener
}

func (r *relay) socket() string { return filepath.Join(r.dir, "sock") }

// env is what Local adds to a command's environment.
func (r *relay) env() []string {
	// An unset PATH is the shell's default, not the empty element (the cwd).
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	return []string{"PATH=" + r.dir + string(os.PathListSeparator) + path, rshSocketEnv + "=" + r.socket()}
}

// LocalRsh is the remote shell for an rsync that Local runs toward host: RshName
// (with -p when the host entry sets a port; the user travels in rsync's
// user@host), relayed over this Client's connection to host. Where the relay
// cannot be set up it is Rsh's ssh command line. An Offline Client (the dry
// run) answers what a run would use and starts nothing.
func (c *Client) LocalRsh(host core.Host) string {
	if !c.opts.Offline {
		c.relayOnce.Do(c.startRelay)
		if c.relay.Load() == nil {
			return c.Rsh(host)
		}
	}
	if host.Port != 0 {
		return RshName + " -p " + strconv.Itoa(host.Port)
	}
	return RshName
}

func (c *Client) startRelay() {
	// Under the lock that Close sets closed with: no relay starts after Close,
	// whose closeRelay would miss it.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	r, err := listenRelay()
	if err != nil {
		c.log.Warn("rsync runs OpenSSH: cannot relay its remote shell", "err", err)
		return
	}
	c.relay.Store(r)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.serveRelay(r)
	}()
}

func listenRelay() (*relay, error) {
	sweepRelays(os.TempDir(), time.Now().Add(-time.Minute))
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "grifork-rsh-") // mode 0700: only this user reaches the socket
	if err != nil {
		return nil, err
	}
	r := &relay{dir: dir}
	if err = os.Symlink(exe, filepath.Join(dir, RshName)); err == nil {
		r.ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: r.socket(), Net: "unix"})
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return r, nil
}

// sweepRelays removes what griforks killed with SIGKILL left in dir: relay
// directories of this user, made before cutoff (so none still being set up),
// holding the RshName link, whose socket refuses connections or is missing.
func sweepRelays(dir string, cutoff time.Time) {
	dirs, _ := filepath.Glob(filepath.Join(dir, "grifork-rsh-*"))
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() || fi.ModTime().After(cutoff) || !ownedByMe(fi) {
			continue
		}
		if li, err := os.Lstat(filepath.Join(d, RshName)); err != nil || li.Mode()&os.ModeSymlink == 0 {
			continue
		}
		r := relay{dir: d}
		uc, err := net.Dial("unix", r.socket())
		if err == nil {
			uc.Close() // a live relay
			continue
		}
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(d)
		}
	}
}

// closeRelay stops the relay (Close: its sessions end with the connections).
func (c *Client) closeRelay() {
	if r := c.relay.Load(); r != nil {
		r.ln.Close()
		os.RemoveAll(r.dir)
	}
}

func (c *Client) serveRelay(r *relay) {
	backoff := 5 * time.Millisecond
	for {
		uc, err := r.ln.AcceptUnix()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of descriptors for a moment, say: rsyncs wait in the backlog
			// meanwhile, and would hang if this loop ended.
			c.log.Warn("rsync relay: accept", "err", err)
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer uc.Close()
			c.relayOne(uc)
		}()
	}
}

// relayOne runs one remote shell's command and replies with its exit status.
func (c *Client) relayOne(uc *net.UnixConn) {
	req, files, err := readRshRequest(uc)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if errors.Is(err, io.EOF) && len(files) == 0 {
		return // another grifork's sweepRelays, checking that we live
	}
	if err != nil {
		c.log.Warn("bad request to the rsync relay", "err", err)
		return
	}
	// The relay process sends nothing more: EOF means it is gone, killed with
	// rsync's process group. Our copies of its streams go at once, as ssh's
	// would: an rsync still flushing to a stalled remote side gets EPIPE
	// instead of blocking until its SIGKILL.
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	go func() {
		uc.Read(make([]byte, 1))
		cancel()
		for _, f := range files {
			f.Close()
		}
	}()
	host := core.Host{Name: req.Host, User: req.User, Port: req.Port}
	err = c.Start(ctx, host, req.Command, files[0], files[1], files[2])
	// rsync reads its remote side until EOF: close our copies before replying.
	for _, f := range files[1:] {
		f.Close()
	}
	rep := rshReply{}
	var ce *CommandError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return // nobody is left to tell
	case errors.As(err, &ce) && ce.Signal == "" && ce.ExitStatus >= 0:
		rep.Status = ce.ExitStatus // the command's own stderr has said why
	case errors.As(err, &ce) && ce.Signal != "":
		rep.Status, rep.Err = rshFailed, ce.Host+": remote command killed by signal "+ce.Signal
	case errors.As(err, &ce):
		rep.Status, rep.Err = rshFailed, ce.Host+": "+ce.Err.Error()
	default:
		rep.Status, rep.Err = rshFailed, err.Error()
	}
	b, _ := json.Marshal(rep)
	uc.Write(b)
}

// readRshRequest reads a length-prefixed request and the three descriptors
// sent with its first byte.
func readRshRequest(uc *net.UnixConn) (rshRequest, []*os.File, error) {
	var req rshRequest
	head := make([]byte, 4)
	oob := make([]byte, syscall.CmsgSpace(3*4))
	n, oobn, _, _, err := uc.ReadMsgUnix(head, oob)
	if err == nil && n == 0 {
		err = io.EOF
	}
	if err != nil {
		return req, nil, err
	}
	var fds []int
	if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if r, err := syscall.ParseUnixRights(&m); err == nil {
				fds = append(fds, r...)
			}
		}
	}
	files := make([]*os.File, 0, len(fds))
	for i, fd := range fds {
		files = append(files, os.NewFile(uintptr(fd), "rsh"+strconv.Itoa(i)))
	}
	if len(files) != 3 {
		return req, files, fmt.Errorf("%d descriptors, want 3", len(files))
	}
	if _, err := io.ReadFull(uc, head[n:]); err != nil {
		return req, files, err
	}
	body := make([]byte, binary.BigEndian.Uint32(head))
	if _, err := io.ReadFull(uc, body); err != nil {
		return req, files, err
	}
	return req, files, json.Unmarshal(body, &req)
}

// RshMain is grifork run as rsync's remote shell (RshName), with ssh's
// arguments: [-p port] [-l user] host command... It returns the remote
// command's exit status, or 255 with a message on stderr when the command could
// not be run, as ssh does.
func RshMain(args []string) int {
	req, err := parseRshArgs(args)
	if err == nil {
		var rep rshReply
		if rep, err = rshCall(req); err == nil {
			if rep.Err != "" {
				fmt.Fprintln(os.Stderr, RshName+": "+rep.Err)
			}
			return rep.Status
		}
	}
	fmt.Fprintln(os.Stderr, RshName+": "+err.Error())
	return rshFailed
}

func parseRshArgs(args []string) (rshRequest, error) {
	var req rshRequest
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-p":
			p, err := strconv.Atoi(args[1])
			if err != nil || !core.PortRange.Contains(p) {
				return req, fmt.Errorf("invalid port %q", args[1])
			}
			req.Port = p
		case "-l":
			req.User = args[1]
		default:
			return req, fmt.Errorf("unknown option %s (grifork's rsync relay takes -p and -l)", args[0])
		}
		args = args[2:]
	}
	if len(args) < 2 {
		return req, errors.New("usage: " + RshName + " [-p port] [-l user] host command [arg ...]")
	}
	// As ssh does: the words are joined with spaces, for the remote shell to split.
	req.Host, req.Command = args[0], strings.Join(args[1:], " ")
	return req, nil
}

func rshCall(req rshRequest) (rshReply, error) {
	var rep rshReply
	sock := os.Getenv(rshSocketEnv)
	if sock == "" {
		return rep, errors.New(rshSocketEnv + " is not set: only an rsync started by grifork can use this remote shell")
	}
	uc, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return rep, fmt.Errorf("reach grifork: %w", err)
	}
	defer uc.Close()
	body, err := json.Marshal(req)
	if err != nil {
		return rep, err
	}
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	if _, _, err := uc.WriteMsgUnix(msg[:1], syscall.UnixRights(0, 1, 2), nil); err != nil {
		return rep, fmt.Errorf("reach grifork: %w", err)
	}
	if _, err := uc.Write(append(msg[1:], body...)); err != nil {
		return rep, fmt.Errorf("reach grifork: %w", err)
	}
	b, err := io.ReadAll(uc)
	if err == nil && len(b) == 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = json.Unmarshal(b, &rep)
	}
	if err != nil {
		return rep, fmt.Errorf("grifork ended before the remote command: %w", err)
	}
	return rep, nil
}

func ownedByMe(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
