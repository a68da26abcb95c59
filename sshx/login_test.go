package sshx

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/grifork/grifork/core"
)

// Logins resolve as the dial does: the host entry, then ssh { }, then
// ssh_config; ssh { keys } before IdentityFile; the default keys that exist
// only when nothing else is offered; a password by name only.
func TestLogin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte("Host cfg\n  User cfguser\n  Port 2201\n  IdentityFile /keys/%h_%r\nHost *\n  User anyone\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ssh  core.SSHConfig
		host core.Host
		want string
	}{
		{"ssh_config", core.SSHConfig{}, core.Host{Name: "cfg"}, "user cfguser, port 2201, keys /keys/cfg_cfguser"},
		{"ssh settings win", core.SSHConfig{User: "deploy", Port: 2022, Keys: []string{"~/.ssh/deploy key"}},
			core.Host{Name: "cfg"}, `user deploy, port 2022, keys "~/.ssh/deploy key" /keys/cfg_deploy`},
		{"the host entry wins", core.SSHConfig{User: "deploy", Port: 2022}, core.Host{Name: "cfg", User: "root", Port: 22},
			"user root, port 22, keys /keys/cfg_root"},
		{"nothing offered", core.SSHConfig{}, core.Host{Name: "other"}, "user anyone, port 22, no key, agent or password"},
		{"a password, by name", core.SSHConfig{Password: "hunter2"}, core.Host{Name: "other"}, "user anyone, port 22, password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(Options{SSH: tt.ssh, ConfigFile: cfg, Agent: "none", Offline: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ls, err := c.Logins([]core.Host{tt.host})
			if err != nil {
				t.Fatal(err)
			}
			if got := ls[0].String(); got != tt.want {
				t.Errorf("Login(%s) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

// The default keys, when offered, are those that exist; an agent is said.
func TestLoginDefaultsAndAgent(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "id_ecdsa"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for agent, want := range map[string]string{"none": "user u, port 22, keys ~/.ssh/id_ecdsa", "/run/agent.sock": "user u, port 22, ssh-agent"} {
		c, err := New(Options{SSH: core.SSHConfig{User: "u"}, ConfigFile: "none", Agent: agent, Offline: true})
		if err != nil {
			t.Fatal(err)
		}
		ls, err := c.Logins([]core.Host{{Name: "h"}})
		c.Close()
		if err != nil || ls[0].String() != want {
			t.Errorf("agent %s: Logins = %q, %v; want %q", agent, ls, err, want)
		}
	}
}

// Equal compares every field of Login: a field added later and not compared
// would merge two logins in the plan.
func TestLoginEqual(t *testing.T) {
	t.Parallel()
	a := Login{User: "u", Port: 22, Keys: []string{"k"}, Certificates: []string{"c"}}
	if !a.Equal(a) {
		t.Fatal("a login differs from itself")
	}
	v := reflect.ValueOf(&a).Elem()
	for i := range v.NumField() {
		b := a
		b.Keys, b.Certificates = slices.Clone(a.Keys), slices.Clone(a.Certificates)
		f := reflect.ValueOf(&b).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int:
			f.SetInt(f.Int() + 1)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Slice:
			f.Set(reflect.Append(f, reflect.ValueOf("x")))
		default:
			t.Fatalf("field %s of kind %s: teach this test to change it", v.Type().Field(i).Name, f.Kind())
		}
		if a.Equal(b) {
			t.Errorf("Equal misses field %s", v.Type().Field(i).Name)
		}
	}
}
