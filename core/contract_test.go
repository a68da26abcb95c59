package core

import (
	"strings"
	"testing"
	"time"
)

func TestSSHConfigDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   SSHConfig
		want SSHConfig
	}{
		{"nothing set", SSHConfig{}, SSHConfig{HostKeyCheck: "strict", Timeout: 10 * time.Second}},
		{"set values stay", SSHConfig{HostKeyCheck: "off", Timeout: time.Second, Port: 2222},
			SSHConfig{HostKeyCheck: "off", Timeout: time.Second, Port: 2222}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.in
			c.SetDefaults()
			if c.HostKeyCheck != tt.want.HostKeyCheck || c.Timeout != tt.want.Timeout || c.Port != tt.want.Port {
				t.Errorf("SetDefaults: %+v, want %+v", c, tt.want)
			}
			c.SetDefaults() // idempotent: the loader and the transport both call it
			if c.HostKeyCheck != tt.want.HostKeyCheck || c.Timeout != tt.want.Timeout {
				t.Errorf("second SetDefaults: %+v", c)
			}
		})
	}
}

func TestSSHConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    SSHConfig
		want string // "" when valid
	}{
		{"unset", SSHConfig{}, ""},
		{"every check", SSHConfig{HostKeyCheck: "accept-new", Port: 22, Timeout: time.Second}, ""},
		{"bad host_key_check", SSHConfig{HostKeyCheck: "yes"}, `ssh: host_key_check must be one of "strict", "accept-new", "off", got "yes"`},
		{"bad port", SSHConfig{Port: 70000}, "ssh: port must be an integer from 1 to 65535, got 70000"},
		{"negative timeout", SSHConfig{Timeout: -time.Second}, "ssh: timeout must be a number of seconds > 0, got -1s"},
		{"secrets stay out", SSHConfig{HostKeyCheck: "bad", Password: "hunter2"}, "got \"bad\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v, want %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Errorf("Validate shows a secret: %v", err)
			}
		})
	}
}
