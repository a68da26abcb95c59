package core

import (
	"strings"
	"testing"
	"time"
)

func TestConfigSetDefaults(t *testing.T) {
	t.Parallel()
	c := Config{Broadcast: &BroadcastConfig{From: "/srv/app/"}}
	c.SetDefaults()
	again := c
	again.SetDefaults()
	if c.Mode != Standalone || c.Branches != DefaultBranches || c.SSH.Timeout != DefaultSSHTimeout ||
		c.SSH.HostKeyCheck != DefaultHostKeyCheck || *c.SSH.Retries != DefaultSSHRetries ||
		!*c.Rsync.Delete || c.Broadcast.To != "/srv/app/" || !*c.Broadcast.Delete || !*c.Broadcast.Direct ||
		c.Broadcast.Branches != DefaultBroadcastBranches {
		t.Errorf("defaults: %+v, broadcast %+v", c, *c.Broadcast)
	}
	if again.Branches != c.Branches || again.SSH.Timeout != c.SSH.Timeout {
		t.Errorf("SetDefaults is not idempotent: %+v then %+v", c, again)
	}
	raw := Config{Rsync: RsyncConfig{Raw: []string{"-a"}}}
	raw.SetDefaults()
	if raw.Rsync.Delete != nil {
		t.Errorf("the array form got a delete default: %v", *raw.Rsync.Delete)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	no := false
	tests := []struct {
		name      string
		c         Config
		directive string // "" when valid
		msg       string
	}{
		{"zero value", Config{}, "", ""},
		{"bad mode", Config{Mode: "forest"}, "mode", `mode must be "standalone" or "grifork", got "forest"`},
		{"negative branches", Config{Branches: -1}, "branches", "branches must be an integer >= 1"},
		{"bad log level", Config{Log: LogConfig{Level: "loud"}}, "log", "log: level must be one of"},
		{"host port", Config{Hosts: []Host{{Name: "a", Port: 70000}}}, "hosts", `host "a": invalid port 70000`},
		{"ssh port", Config{SSH: SSHConfig{Port: 65536}}, "ssh", "ssh: port must be an integer from 1 to 65535, got 65536"},
		{"max_connections above its range", Config{SSH: SSHConfig{MaxConnections: 1<<20 + 1}}, "ssh",
			"ssh: max_connections must be an integer from 1 to 1048576"},
		{"max_connections negative", Config{SSH: SSHConfig{MaxConnections: -1}}, "ssh", "ssh: max_connections must be"},
		{"bwlimit", Config{Rsync: RsyncConfig{Bwlimit: -1}}, "rsync", "rsync: bwlimit must be"},
		{"relay settings in standalone mode", Config{Mode: Standalone,
			Grifork: GriforkConfig{Exec: "/usr/local/bin/grifork", Tmpdir: "/var/tmp", User: "deploy"}}, "", ""},
		{"chdir in standalone mode", Config{Mode: Standalone, Grifork: GriforkConfig{Chdir: "/srv"}}, "grifork",
			"grifork: chdir is for grifork mode"},
		{"heartbeat in standalone mode (the default)", Config{Grifork: GriforkConfig{HeartbeatTimeout: time.Second}}, "grifork",
			"grifork: heartbeat_timeout is for grifork mode"},
		{"chdir in grifork mode", Config{Mode: Grifork, Grifork: GriforkConfig{Chdir: "/srv"}}, "", ""},
		{"broadcast without from", Config{Broadcast: &BroadcastConfig{}}, "broadcast", "broadcast: from is required"},
		{"broadcast to relative", Config{Broadcast: &BroadcastConfig{From: "app/"}}, "broadcast",
			`broadcast: to must be an absolute path (where it lands on every host), got "app/"`},
		{"broadcast ok", Config{Broadcast: &BroadcastConfig{From: "app/", To: "/srv/app/", Delete: &no}}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.c.Validate()
			if tt.directive == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			ce, ok := err.(*ConfigError)
			if !ok {
				t.Fatalf("Validate = %v (%T), want a *ConfigError", err, err)
			}
			if ce.Directive != tt.directive || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("Validate = %q (directive %q), want %q (directive %q)", ce.Msg, ce.Directive, tt.msg, tt.directive)
			}
		})
	}
}

// TestPortRangeParseHost: a host entry's port is checked against PortRange.
func TestPortRangeParseHost(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"0", "65536"} {
		if _, err := ParseHost("h:" + p); err == nil {
			t.Errorf("ParseHost(h:%s) = nil error", p)
		}
	}
	if h, err := ParseHost("h:65535"); err != nil || h.Port != 65535 {
		t.Errorf("ParseHost(h:65535) = %v, %v", h, err)
	}
}
