// Package sshx runs grifork's commands: locally with os/exec, and on hosts over
// SSH (golang.org/x/crypto/ssh) with one multiplexed connection per host.
//
// Settings and their precedence follow OpenSSH, where command-line options beat
// ~/.ssh/config: the user and port of a host entry ("deploy@web1:2222") win, then
// the Griforkfile's ssh { user, port } (the equivalent of ssh -l / -p), then
// ~/.ssh/config (User, Port), then the defaults (current user, 22). HostName from
// ~/.ssh/config always applies. Keys from ssh { keys } are offered first, then the
// agent's, then IdentityFile keys from ~/.ssh/config; ~/.ssh/id_ed25519, id_ecdsa
// and id_rsa are tried only when none of these exist.
//
// Remote commands run without a pty (a pty mangles output). Each command is
// wrapped in a small /bin/sh script (so hosts need a POSIX /bin/sh) that runs it
// in the user's login shell, as ssh does, and on cancellation kills the
// command's whole process group (TERM, then KILL after 5s), so nothing started
// by a cancelled task keeps running on the host. The wrapper learns of the
// cancellation from the "signal" request (honoured by OpenSSH >= 7.9, but only
// for logins that use privilege separation: not for root), and, for Remote,
// from a watchdog that notices the session's channel close (also when the
// connection is lost); Start, whose stdin belongs to the command, kills the
// wrapper by PID from a second session on the same connection instead.
package sshx

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/redact"
	"github.com/kevinburke/ssh_config"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

const (
	defaultKeepalive   = 15 * time.Second
	keepaliveMax       = 3 // missed keepalives before a connection is closed
	defaultMaxSessions = 8 // below sshd's default MaxSessions of 10
	killGrace          = 5 * time.Second
	closeGrace         = 2*killGrace + time.Second // Close waits this long for commands being stopped
)

// Options configures a Client.
type Options struct {
	SSH     core.SSHConfig
	Printer *core.Printer // host-prefixed output; nil prints nothing
	Logger  *slog.Logger  // nil logs nothing
	// ConfigFile is the ssh_config file read for HostName, User, Port and
	// IdentityFile: ~/.ssh/config when empty (a missing file is fine), "none" for none.
	ConfigFile string
	// Agent is the ssh-agent socket: $SSH_AUTH_SOCK when empty, "none" for none.
	Agent string
	// Offline checks the settings but loads no key and opens no agent: a dry-run
	// needs only Rsh, and must work where the keys are not (a laptop, CI).
	Offline bool
	// Keepalive is the interval of keepalive@openssh.com requests (default 15s);
	// a connection that misses 3 in a row is closed.
	Keepalive time.Duration
	// MaxSessions bounds concurrent sessions on one connection (default 8).
	MaxSessions int
}

var _ core.Exec = (*Client)(nil)

// Client implements core.Exec over SSH. It is safe for concurrent use; Close
// closes every connection it opened.
type Client struct {
	opts    Options
	log     *slog.Logger
	red     *redact.Redactor
	cfg     *ssh_config.Config // nil: no ssh_config
	keys    *hostKeys
	agent   agent.ExtendedAgent
	agentNC net.Conn
	signers []ssh.Signer // from ssh { keys }, loaded by New
	me      string       // current user, the default login

	ctx    context.Context // cancelled by Close: aborts dials
	cancel context.CancelFunc

	rsh sync.Map // rshKey -> Rsh's command line: one per port and user, not per host

	relayOnce sync.Once             // LocalRsh starts the relay on first use
	relay     atomic.Pointer[relay] // nil: no relay (not needed yet, or it failed)

	mu        sync.Mutex
	conns     map[string]*dialEntry
	queue     *list.List            // *dialEntry waiting for a place
	idle      *list.List            // *dialEntry open and held by no caller, least recently used first
	open      int                   // connections open or dialling: at most max
	peak      int                   // the most open at once
	max       int                   // ssh { max_connections }, fitted to the descriptor limit
	idSigners map[string]ssh.Signer // ssh_config / default identity files, by path; nil: unusable
	closed    bool
	wg        sync.WaitGroup
	// stopping counts local commands and cancelled remote ones still being
	// stopped: Close waits for them, so that a grifork exiting right after a
	// cancellation never leaves a command it started running.
	stopping sync.WaitGroup
}

// New checks the settings, loads the configured keys (an encrypted key needs
// ssh { passphrase }) and reads the ssh_config file. It opens no connection.
func New(opts Options) (*Client, error) {
	c := &Client{opts: opts, log: opts.Logger, red: opts.SSH.Redactor(),
		conns: map[string]*dialEntry{}, queue: list.New(), idle: list.New(), idSigners: map[string]ssh.Signer{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if err := c.opts.SSH.Validate(); err != nil {
		return nil, err
	}
	c.opts.SSH.SetDefaults()
	if c.opts.Keepalive <= 0 {
		c.opts.Keepalive = defaultKeepalive
	}
	if c.opts.MaxSessions <= 0 {
		c.opts.MaxSessions = defaultMaxSessions
	}
	var warning string
	if c.max, warning = fitConnections(c.opts.SSH.MaxConnections, nofile()); warning != "" {
		c.log.Warn(warning)
	}
	if u, err := user.Current(); err == nil {
		c.me = u.Username
	} else if c.me = os.Getenv("USER"); c.me == "" {
		return nil, fmt.Errorf("ssh: cannot tell the current user (%v); set ssh { user = ... }", err)
	}

	mode := c.opts.SSH.HostKeyCheck
	khShown := c.opts.SSH.KnownHosts
	if khShown == "" {
		khShown = "~/.ssh/known_hosts"
	}
	kh, err := expandHome(khShown)
	if err != nil {
		return nil, fmt.Errorf("ssh: known_hosts: %w", err)
	}
	c.keys = &hostKeys{path: kh, shown: khShown, mode: mode, log: c.log}
	if c.opts.SSH.KnownHosts == "" {
		c.keys.system = []string{"/etc/ssh/ssh_known_hosts"}
	}

	if err := c.readConfig(); err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if c.opts.Offline {
		return c, nil
	}
	for _, k := range c.opts.SSH.Keys {
		s, err := c.loadKey(k)
		if err != nil {
			c.cancel()
			return nil, err
		}
		c.signers = append(c.signers, s)
	}
	c.openAgent()
	return c, nil
}

func (c *Client) readConfig() error {
	path := c.opts.ConfigFile
	if path == "none" {
		return nil
	}
	explicit := path != ""
	if !explicit {
		path = "~/.ssh/config"
	}
	p, err := expandHome(path)
	if err != nil {
		return fmt.Errorf("ssh config: %w", err)
	}
	f, err := os.Open(p)
	if err != nil {
		if !explicit && os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("ssh config: %w", err)
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		return fmt.Errorf("ssh config %s: %w", p, err)
	}
	c.cfg = cfg
	return nil
}

func (c *Client) openAgent() {
	sock := c.opts.Agent
	if sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock == "" || sock == "none" {
		return
	}
	nc, err := net.Dial("unix", sock)
	if err != nil {
		c.log.Warn("ssh-agent not usable", "socket", sock, "err", err)
		return
	}
	c.agentNC, c.agent = nc, agent.NewClient(nc)
}

// Close closes every connection (running commands on them end, their remote
// process groups are killed by the wrapper) and the agent socket.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	// Stops of cancelled commands need the connections: let them finish first.
	stopped := make(chan struct{})
	go func() { c.stopping.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(closeGrace):
		c.log.Warn("closing with commands still being stopped")
	}
	c.mu.Lock()
	entries := c.conns
	c.conns = map[string]*dialEntry{}
	for el := c.queue.Front(); el != nil; el = el.Next() {
		e := el.Value.(*dialEntry)
		e.queued = nil
		e.err = fmt.Errorf("host %s: %w", e.t.display, errClosed)
		close(e.ready)
	}
	c.queue.Init()
	c.mu.Unlock()
	c.cancel()
	c.closeRelay()
	for _, e := range entries {
		<-e.ready
		if e.c != nil {
			e.c.client.Close()
		}
	}
	c.wg.Wait()
	if c.peak > 0 {
		// For tuning max_connections: how close the run came to it.
		c.log.Info("ssh connections", "peak", c.peak, "max_connections", c.max)
	}
	if c.agentNC != nil {
		c.agentNC.Close()
	}
	return nil
}

// MaxConnections is the bound on connections open at once: ssh {
// max_connections }, fitted to the file-descriptor limit.
func (c *Client) MaxConnections() int { return c.max }

// track counts a command in c.stopping until done is called; false once the
// client is closed.
func (c *Client) track() (done func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false
	}
	c.stopping.Add(1)
	return c.stopping.Done, true
}

// errClosed is returned by calls on a closed Client.
var errClosed = errors.New("ssh client closed")

// target is a host with every setting resolved.
type target struct {
	display  string // the host as the user wrote it: prefixes and errors
	hostname string // after ssh_config HostName
	port     int
	user     string
	idFiles  []string // IdentityFile entries from ssh_config
}

func (t target) addr() string { return net.JoinHostPort(t.hostname, strconv.Itoa(t.port)) }
func (t target) key() string  { return t.user + "@" + t.addr() }

func (c *Client) cfgGet(alias, key string) string {
	if c.cfg == nil {
		return ""
	}
	v, err := c.cfg.Get(alias, key)
	if err != nil {
		return ""
	}
	return v
}

func (c *Client) resolve(h core.Host) (target, error) {
	t := target{display: h.String(), hostname: h.Name}
	if hn := c.cfgGet(h.Name, "HostName"); hn != "" {
		t.hostname = strings.ReplaceAll(hn, "%h", h.Name)
	}
	switch {
	case h.Port != 0:
		t.port = h.Port
	case c.opts.SSH.Port != 0:
		t.port = c.opts.SSH.Port
	case c.cfgGet(h.Name, "Port") != "":
		p, err := strconv.Atoi(c.cfgGet(h.Name, "Port"))
		if err != nil || !core.PortRange.Contains(p) {
			return t, fmt.Errorf("host %s: ssh config: invalid Port %q", t.display, c.cfgGet(h.Name, "Port"))
		}
		t.port = p
	default:
		t.port = 22
	}
	switch {
	case h.User != "":
		t.user = h.User
	case c.opts.SSH.User != "":
		t.user = c.opts.SSH.User
	case c.cfgGet(h.Name, "User") != "":
		t.user = c.cfgGet(h.Name, "User")
	default:
		t.user = c.me
	}
	if c.cfg != nil {
		ids, _ := c.cfg.GetAll(h.Name, "IdentityFile")
		t.idFiles = ids
	}
	return t, nil
}

func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, p[1:]), nil
}

func (c *Client) redact(s string) string { return c.red.String(s) }
