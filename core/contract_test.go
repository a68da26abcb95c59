package core

import (
	"reflect"
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
		{"nothing set", SSHConfig{}, SSHConfig{HostKeyCheck: "strict", Timeout: 10 * time.Second, Retries: intp(2)}},
		{"set values stay", SSHConfig{HostKeyCheck: "off", Timeout: time.Second, Port: 2222, Retries: intp(0), CommandTimeout: time.Minute},
			SSHConfig{HostKeyCheck: "off", Timeout: time.Second, Port: 2222, Retries: intp(0), CommandTimeout: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.in
			c.SetDefaults()
			if !reflect.DeepEqual(c, tt.want) {
				t.Errorf("SetDefaults: %+v, want %+v", c, tt.want)
			}
			c.SetDefaults() // idempotent: the loader and the transport both call it
			if !reflect.DeepEqual(c, tt.want) {
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
		{"no command timeout, no retries", SSHConfig{CommandTimeout: 0, Retries: intp(0)}, ""},
		{"negative command_timeout", SSHConfig{CommandTimeout: -time.Second}, "ssh: command_timeout must be a number of seconds >= 0 (0: none), got -1s"},
		{"negative retries", SSHConfig{Retries: intp(-1)}, "ssh: retries must be an integer from 0 to 10, got -1"},
		{"too many retries", SSHConfig{Retries: intp(11)}, "ssh: retries must be an integer from 0 to 10, got 11"},
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

func intp(n int) *int { return &n }

func TestGriforkConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    GriforkConfig
		want string // "" when valid
	}{
		{"unset", GriforkConfig{}, ""},
		{"exec", GriforkConfig{Exec: "/usr/local/bin/grifork"}, ""},
		{"binaries", GriforkConfig{Binaries: "/opt/grifork"}, ""},
		{"both", GriforkConfig{Exec: "/usr/local/bin/grifork", Binaries: "/opt/grifork"}, "grifork: set exec or binaries, not both"},
	}
	for _, tt := range tests {
		err := (&Config{Mode: Grifork, Grifork: tt.c}).Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate: %v, want %q", tt.name, err, tt.want)
		}
	}
}
