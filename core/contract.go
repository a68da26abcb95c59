package core

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/grifork/grifork/redact"
)

// Mode is how a run propagates: only the root runs grifork, or every node does.
type Mode string

const (
	Standalone Mode = "standalone"
	Grifork    Mode = "grifork"
)

// Config is everything a Griforkfile sets: plain data, which every reader (the
// Griforkfile loader, the CLI flags) fills in. The zero value of a field means
// "not set"; SetDefaults fills what the user left out and Validate checks it
// (config.go), nothing else defaults or checks a setting.
type Config struct {
	Mode     Mode
	Branches int
	Log      LogConfig
	Hosts    []Host
	SSH      SSHConfig
	Rsync    RsyncConfig
	Grifork  GriforkConfig
	// Broadcast is the broadcast { } directive; nil when there is none.
	Broadcast *BroadcastConfig
	// MaxFailures is the max_failures directive (--max-failures replaces it).
	MaxFailures FailureBudget
}

type LogConfig struct {
	File  string
	Level string // debug|info|warn|error
}

// SSHConfig is the `ssh { ... }` directive. Passphrase and Password are secrets:
// they never reach a log, an error message or dry-run output.
type SSHConfig struct {
	User         string
	Keys         []string
	Passphrase   string
	Password     string
	Port         int
	KnownHosts   string        // path; default ~/.ssh/known_hosts
	HostKeyCheck string        // "strict" (default) | "accept-new" | "off"
	Timeout      time.Duration // connect timeout; default 10s
	// CommandTimeout bounds every remote command, rsync and fork setup; 0: none.
	CommandTimeout time.Duration
	// Retries is how often a connection or session refused for a passing reason
	// (sshd at MaxStartups, no free channel) is tried again; nil: DefaultSSHRetries.
	Retries *int
	// MaxConnections bounds the SSH connections open at once; beyond it a new
	// one waits for one to be released. 0: fitted to the file-descriptor limit
	// by the SSH transport (DefaultMaxConnections at most).
	MaxConnections int
	// HostKeyCheckSet: HostKeyCheck was written, not defaulted; only then does
	// it beat ssh_config's StrictHostKeyChecking.
	HostKeyCheckSet bool
}

// Defaults of the SSH settings, filled in by SSHConfig.SetDefaults.
const (
	DefaultHostKeyCheck = "strict"
	DefaultSSHTimeout   = 10 * time.Second
	DefaultSSHRetries   = 2
	// MaxSSHRetries keeps a typo (retries = 1000) from turning a dead host into
	// an hour of backoff.
	MaxSSHRetries = 10
	// DefaultMaxConnections is ssh { max_connections } when not set and the
	// file-descriptor limit allows it.
	DefaultMaxConnections = 1024
)

// hostKeyChecks are the values of SSHConfig.HostKeyCheck.
var hostKeyChecks = []string{"strict", "accept-new", "off"}

// SetDefaults fills in the settings left out. It is the one home of their
// defaults: the Griforkfile loader and the SSH transport both call it
// (idempotent), so a Config built in Go gets the same values as one loaded.
func (c *SSHConfig) SetDefaults() {
	if c.HostKeyCheck == "" {
		c.HostKeyCheck = DefaultHostKeyCheck
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultSSHTimeout
	}
	if c.Retries == nil {
		n := DefaultSSHRetries
		c.Retries = &n
	}
}

// Validate checks the settings, unset ones included (they take their default).
// Its messages name the Griforkfile's keys, for both the loader and Go callers.
func (c SSHConfig) Validate() error {
	if c.HostKeyCheck != "" && !slices.Contains(hostKeyChecks, c.HostKeyCheck) {
		return fmt.Errorf(`ssh: host_key_check must be one of "strict", "accept-new", "off", got %q`, c.HostKeyCheck)
	}
	if c.Port != 0 && !PortRange.Contains(c.Port) {
		return fmt.Errorf("ssh: port must be an integer %s, got %d", PortRange, c.Port)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("ssh: timeout must be a number of seconds > 0, got %s", c.Timeout)
	}
	if c.CommandTimeout < 0 {
		return fmt.Errorf("ssh: command_timeout must be a number of seconds >= 0 (0: none), got %s", c.CommandTimeout)
	}
	if c.MaxConnections != 0 && !MaxConnectionsRange.Contains(c.MaxConnections) {
		return fmt.Errorf("ssh: max_connections must be an integer %s, got %d", MaxConnectionsRange, c.MaxConnections)
	}
	if c.Retries != nil && !RetriesRange.Contains(*c.Retries) {
		return fmt.Errorf("ssh: retries must be an integer %s, got %d", RetriesRange, *c.Retries)
	}
	return nil
}

// Redactor is the one redactor of a run: it removes the values that must never
// leave the process (Passphrase, Password) from every writer and logger.
func (c SSHConfig) Redactor() *redact.Redactor { return redact.New(c.Passphrase, c.Password) }

// RsyncConfig is the `rsync { ... }` directive: either the table form (the named
// fields) or the array form (Raw, passed to rsync as given).
type RsyncConfig struct {
	Delete   *bool // default true
	Bwlimit  int   // KiB/s; 0 = unlimited
	Verbose  bool
	Excludes []string
	Rsh      string // replaces the derived --rsh when set
	DryRun   bool
	Raw      []string // array form; when non-nil the fields above are ignored
}

// GriforkConfig is the `grifork { ... }` directive: how grifork runs on the
// nodes, for grifork mode's forks and the broadcast's relays (Validate).
type GriforkConfig struct {
	Chdir  string
	Tmpdir string
	Exec   string
	User   string
	// Binaries is a directory of griforks for other platforms than the
	// root's, named grifork-GOOS-GOARCH (as `make build-all` builds them);
	// absolute once loaded (the loader resolves it from the Griforkfile's
	// directory).
	Binaries string
	// HeartbeatTimeout is the silence after which a parent fails a child's
	// grifork; 0: DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration
}

// Block names a task block of the Griforkfile.
type Block string

const (
	BlockPrepare       Block = "prepare"
	BlockLocally       Block = "locally"
	BlockRemote        Block = "remote"
	BlockPrepareRemote Block = "prepare_remote"
	BlockFinishRemote  Block = "finish_remote"
	BlockFinish        Block = "finish"
)

// edgeBlock is the block that brings n its copy: locally from the root (level 0,
// also in a grifork-mode subtree), remote from any other parent.
func edgeBlock(n *Node) Block {
	if n.Level == 1 {
		return BlockLocally
	}
	return BlockRemote
}

// Edge is one task invocation: a block run for the pair (Src, Dst). For prepare,
// finish, prepare_remote and finish_remote Dst is nil and Src is the node running it.
type Edge struct {
	Block Block
	Src   *Node
	Dst   *Node
}

type edgeKey struct{}

// WithEdge returns ctx carrying e, so helpers, printers and recorders downstream
// know which task and hosts a command belongs to.
func WithEdge(ctx context.Context, e Edge) context.Context {
	return context.WithValue(ctx, edgeKey{}, e)
}

// EdgeFrom returns the edge carried by ctx, if any.
func EdgeFrom(ctx context.Context) (Edge, bool) {
	e, ok := ctx.Value(edgeKey{}).(Edge)
	return e, ok
}

// Tasks runs the blocks of a loaded Griforkfile. Implementations are safe for
// concurrent use: the scheduler calls Run for many edges at once.
type Tasks interface {
	// Defined reports whether the Griforkfile has the block.
	Defined(b Block) bool
	// Run runs e.Block for e (ctx already carries e). An undefined block is a no-op.
	Run(ctx context.Context, e Edge) error
	// Finish runs the finish block with the run's report.
	Finish(ctx context.Context, r *Report) error
}

// Exec performs the commands that task helpers ask for; implementations: the real
// one over SSH (sshx), the dry-run Recorder, the simulation, fakes in tests, and
// each passes the conformance suite internal/testkit/exectest. Safe for concurrent
// use. ctx carries the Edge (EdgeFrom) that output labels (OutputLabel) and plans
// are keyed by.
type Exec interface {
	// Local runs argv on this machine, without a shell, and returns its standard output.
	Local(ctx context.Context, argv []string) (string, error)
	// Remote runs cmdline, already shell-quoted, on host and returns its standard output.
	Remote(ctx context.Context, host Host, cmdline string) (string, error)
	// Rsh is the remote-shell command (rsync's --rsh) that reaches host with the run's
	// SSH settings. It holds no secrets.
	Rsh(host Host) string
}

// Immediate is an Exec whose calls return at once and wait on nothing (the
// dry run's Recorder): a caller may make them in line rather than on a
// goroutine of their own.
type Immediate interface {
	Immediate()
}

// LocalRsher is an Exec that has its own remote shell for an rsync it runs with
// Local (sshx: grifork relaying over its SSH connection to host). Rsh stays the
// command line for an rsync run on another host (rsync_remote).
type LocalRsher interface {
	LocalRsh(host Host) string
}
