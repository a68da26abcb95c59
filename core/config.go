package core

import (
	"fmt"
	"math"
	"path"
	"slices"
)

// IntRange is the range of an integer setting. Each range has one home below;
// Validate, the Griforkfile loader and the CLI flags all check against it.
type IntRange struct{ Min, Max int }

// Contains reports whether n is in r.
func (r IntRange) Contains(n int) bool { return n >= r.Min && n <= r.Max }

// String is "from MIN to MAX", for messages.
func (r IntRange) String() string { return fmt.Sprintf("from %d to %d", r.Min, r.Max) }

// The ranges of the integer settings (a zero field is unset: its default).
var (
	PortRange           = IntRange{1, 65535}
	BranchesRange       = IntRange{1, math.MaxInt32}
	RetriesRange        = IntRange{0, MaxSSHRetries}
	MaxConnectionsRange = IntRange{1, 1 << 20}
	BwlimitRange        = IntRange{0, math.MaxInt32}
)

// DefaultBranches is the branches of a run that sets none (the tree's and
// the broadcast's own, DefaultBroadcastBranches, are separate settings).
const (
	DefaultBranches          = 4
	DefaultBroadcastBranches = 1
)

// LogLevels are the values of LogConfig.Level.
var LogLevels = []string{"debug", "info", "warn", "error"}

// ConfigError is a setting that Validate refuses. Directive names the
// Griforkfile directive it belongs to, so the loader can cite that line.
type ConfigError struct {
	Directive string
	Msg       string
}

func (e *ConfigError) Error() string { return e.Msg }

func configErr(directive, format string, a ...any) error {
	return &ConfigError{Directive: directive, Msg: fmt.Sprintf(format, a...)}
}

// SetDefaults fills in what c leaves out. It is the one home of the defaults
// of a run's settings: the Griforkfile loader calls it once every file is read,
// and it is idempotent, so a Config built in Go gets the same values.
// (A node's tmpdir, /tmp/grifork-<uid>, depends on the node: node.Shipper
// resolves it there.)
func (c *Config) SetDefaults() {
	if c.Mode == "" {
		c.Mode = Standalone
	}
	if c.Branches == 0 {
		c.Branches = DefaultBranches
	}
	c.SSH.SetDefaults()
	c.Rsync.SetDefaults()
	if c.Broadcast != nil {
		c.Broadcast.SetDefaults()
	}
}

// SwitchMode sets the mode to m, as a later file or a flag does: leaving grifork
// mode leaves out the settings only grifork mode's forks use (chdir,
// heartbeat_timeout), which belong to the mode replaced.
func (c *Config) SwitchMode(m Mode) {
	c.Mode = m
	if m == Standalone {
		c.Grifork.Chdir, c.Grifork.HeartbeatTimeout = "", 0
	}
}

// Validate checks every setting of c, unset ones included (they take their
// default), and the rules between them. Errors are *ConfigError, worded with
// the Griforkfile's keys.
func (c *Config) Validate() error {
	if c.Mode != "" && c.Mode != Standalone && c.Mode != Grifork {
		return configErr("mode", `mode must be "standalone" or "grifork", got %q`, c.Mode)
	}
	if c.Branches != 0 && !BranchesRange.Contains(c.Branches) {
		return configErr("branches", "branches must be an integer >= 1, got %d", c.Branches)
	}
	if c.Log.Level != "" && !slices.Contains(LogLevels, c.Log.Level) {
		return configErr("log", `log: level must be one of "debug", "info", "warn", "error", got %q`, c.Log.Level)
	}
	for _, h := range c.Hosts {
		if h.Name == "" {
			return configErr("hosts", "hosts: empty host name")
		}
		if h.Port != 0 && !PortRange.Contains(h.Port) {
			return configErr("hosts", "host %q: invalid port %d", h.Name, h.Port)
		}
	}
	if err := c.SSH.Validate(); err != nil {
		return &ConfigError{Directive: "ssh", Msg: err.Error()}
	}
	if err := c.Rsync.Validate(); err != nil {
		return err
	}
	if err := c.Grifork.validate(c.Mode); err != nil {
		return err
	}
	if c.Broadcast != nil {
		return c.Broadcast.Validate()
	}
	return nil
}

// SetDefaults fills in the rsync settings left out: --delete in the table form.
func (r *RsyncConfig) SetDefaults() {
	if r.Raw == nil && r.Delete == nil {
		yes := true
		r.Delete = &yes
	}
}

// Deletes reports whether the table form passes --delete (its default).
func (r RsyncConfig) Deletes() bool { return r.Delete == nil || *r.Delete }

// Validate checks the rsync settings.
func (r RsyncConfig) Validate() error {
	if !BwlimitRange.Contains(r.Bwlimit) {
		return configErr("rsync", "rsync: bwlimit must be an integer %s, got %d", BwlimitRange, r.Bwlimit)
	}
	return nil
}

// validate checks the grifork settings in mode: chdir and heartbeat_timeout
// are only for grifork mode's forks, while exec, tmpdir and user also say how
// a standalone run starts its broadcast relays.
func (g GriforkConfig) validate(mode Mode) error {
	if g.HeartbeatTimeout < 0 {
		return configErr("grifork", "grifork: heartbeat_timeout must be a number of seconds > 0, got %s", g.HeartbeatTimeout)
	}
	if g.Exec != "" && g.Binaries != "" {
		return configErr("grifork", "grifork: set exec or binaries, not both: with exec no grifork is shipped")
	}
	if mode == Grifork {
		return nil
	}
	for _, kv := range []struct {
		key string
		set bool
	}{{"chdir", g.Chdir != ""}, {"heartbeat_timeout", g.HeartbeatTimeout != 0}} {
		if kv.set {
			return configErr("grifork", `grifork: %s is for grifork mode, but the mode is "standalone" (in standalone mode grifork { } takes exec, tmpdir and user, for the broadcast's relays)`, kv.key)
		}
	}
	return nil
}

// SetDefaults fills in the broadcast settings left out: to is from, delete
// and direct true, branches DefaultBroadcastBranches.
func (b *BroadcastConfig) SetDefaults() {
	if b.To == "" {
		b.To = b.From
	}
	if b.Delete == nil {
		yes := true
		b.Delete = &yes
	}
	if b.Direct == nil {
		yes := true
		b.Direct = &yes
	}
	if b.Branches == 0 {
		b.Branches = DefaultBroadcastBranches
	}
}

// Deletes reports whether the broadcast removes what To holds and From does
// not (its default).
func (b BroadcastConfig) Deletes() bool { return b.Delete == nil || *b.Delete }

// Directs reports whether relays stream to each other directly over TLS, the
// SSH forward being the fallback (its default).
func (b BroadcastConfig) Directs() bool { return b.Direct == nil || *b.Direct }

// Validate checks the broadcast settings.
func (b BroadcastConfig) Validate() error {
	if b.From == "" {
		return configErr("broadcast", `broadcast: from is required: broadcast { from = "/srv/app/" }`)
	}
	to := b.To
	if to == "" {
		to = b.From
	}
	if !path.IsAbs(to) {
		return configErr("broadcast", "broadcast: to must be an absolute path (where it lands on every host), got %q", to)
	}
	if b.Branches != 0 && !BranchesRange.Contains(b.Branches) {
		return configErr("broadcast", "broadcast: branches must be an integer %s, got %d", BranchesRange, b.Branches)
	}
	return nil
}
