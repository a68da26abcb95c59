package sshx

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/redact"
	"github.com/grifork/grifork/sshx/sshconf"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// OpenSSH's default known_hosts files.
var (
	defaultUserKnownHosts   = []string{"~/.ssh/known_hosts", "~/.ssh/known_hosts2"}
	defaultGlobalKnownHosts = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
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
	SSH core.SSHConfig
	// Output returns a writer that prints each line written to it labelled
	// with label, through the caller's one printer (app: output.Printer's
	// Writer); it is called for each of a command's stdout and stderr and
	// closed when the command ends. nil prints nothing.
	Output func(label string) io.WriteCloser
	Logger *slog.Logger // nil logs nothing
	// Label chooses the host that a command's output lines are labelled with,
	// for the caller's task in ctx (core.OutputLabel); host is nil for a
	// command on this machine. nil or "": the host as shown, or core.RootHost.
	Label func(ctx context.Context, host *core.Host) string
	// ConfigFile is the ssh_config file read for HostName, User, Port and
	// IdentityFile: ~/.ssh/config when empty (a missing file is fine), "none" for none.
	ConfigFile string
	// Home is where ~ and ssh_config's relative Includes point: $HOME when empty.
	Home string
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
	opts Options
	log  *slog.Logger
	red  *redact.Redactor
	conf *sshconf.Config // nil: no ssh_config
	home string          // for ~ in paths and the config
	keys *hostKeys
	// known_hosts files when ssh_config names none: ssh { known_hosts } alone, or ssh's defaults.
	known, global []string
	knownShown    string
	// agentSocket is the default agent ($SSH_AUTH_SOCK or Options.Agent; "" none);
	// IdentityAgent may name another per host.
	agentSocket string
	agents      map[string]agent.ExtendedAgent // by socket, under mu
	agentNCs    []net.Conn
	targets     sync.Map     // core.Host.String() -> resolved
	warned      sync.Map     // file:line of a warning given
	signers     []ssh.Signer // from ssh { keys }, loaded by New
	me          string       // current user, the default login

	ctx    context.Context // cancelled by Close: aborts dials
	cancel context.CancelFunc

	rsh sync.Map // rshKey -> Rsh's command line: one per port and user, not per host

	capOnce sync.Once // the first command whose stdout is longer than MaxCapture says so

	relayOnce sync.Once             // LocalRsh starts the relay on first use
	relay     atomic.Pointer[relay] // nil: no relay (not needed yet, or it failed)

	mu        sync.Mutex
	conns     map[string]*dialEntry
	queue     *list.List                  // *dialEntry waiting for a place
	idle      *list.List                  // *dialEntry open and held by no caller, least recently used first
	open      int                         // connections open or dialling: at most max
	peak      int                         // the most open at once
	max       int                         // ssh { max_connections }, fitted to the descriptor limit
	idSigners map[string]ssh.Signer       // ssh_config / default identity files, by path; nil: unusable
	certs     map[string]*ssh.Certificate // user certificates by path; nil: none there
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
		conns: map[string]*dialEntry{}, queue: list.New(), idle: list.New(), idSigners: map[string]ssh.Signer{},
		certs:  map[string]*ssh.Certificate{},
		agents: map[string]agent.ExtendedAgent{}}
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

	var err error
	if c.home = c.opts.Home; c.home == "" {
		if c.home, err = os.UserHomeDir(); err != nil {
			c.home = "/" // only ~ in paths needs it
		}
	}
	switch c.agentSocket = c.opts.Agent; c.agentSocket {
	case "":
		c.agentSocket = os.Getenv("SSH_AUTH_SOCK")
	case "none":
		c.agentSocket = ""
	}
	c.keys = newHostKeys(c.log)
	if kh := c.opts.SSH.KnownHosts; kh != "" {
		c.known, c.knownShown = []string{c.expandPath(kh)}, kh
	} else {
		for _, f := range defaultUserKnownHosts {
			c.known = append(c.known, c.expandPath(f))
		}
		c.knownShown, c.global = defaultUserKnownHosts[0], defaultGlobalKnownHosts
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
	return c, nil
}

// readConfig reads ssh_config as ssh does: ~/.ssh/config then
// /etc/ssh/ssh_config, or only Options.ConfigFile (ssh -F).
func (c *Client) readConfig() error {
	user, system, explicit := "~/.ssh/config", systemConfig, false
	switch c.opts.ConfigFile {
	case "none":
		return nil
	case "":
	default:
		user, system, explicit = c.opts.ConfigFile, "", true
	}
	conf, err := sshconf.Load(c.expandPath(user), explicit, system, c.home)
	if err != nil {
		return fmt.Errorf("ssh config: %w", err)
	}
	for _, l := range conf.Unknown {
		c.log.Warn("ssh config: unknown keyword "+l.Key+", ignored", "at", l.Pos())
	}
	c.conf = conf
	return nil
}

// systemConfig is ssh's system-wide client configuration.
const systemConfig = "/etc/ssh/ssh_config"

// agentFor is the agent at sock, connected once; nil when sock is "" or not usable.
func (c *Client) agentFor(sock string) agent.ExtendedAgent {
	if sock == "" || c.opts.Offline {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, seen := c.agents[sock]; seen {
		return a
	}
	nc, err := net.Dial("unix", sock)
	if err != nil {
		c.log.Warn("ssh-agent not usable", "socket", sock, "err", err)
		c.agents[sock] = nil
		return nil
	}
	c.agentNCs = append(c.agentNCs, nc)
	a := agent.NewClient(nc)
	c.agents[sock] = a
	return a
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
	for _, nc := range c.agentNCs {
		nc.Close()
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

func (c *Client) redact(s string) string { return c.red.String(s) }
