package sshx

import (
	"context"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

func TestRsh(t *testing.T) {
	t.Parallel()
	keyDir := filepath.Join(t.TempDir(), "my keys")
	os.Mkdir(keyDir, 0o700)
	k1, k2 := filepath.Join(keyDir, "id_ed25519"), filepath.Join(keyDir, "deploy")
	sshdtest.WriteKey(t, k1, "")
	sshdtest.WriteKey(t, k2, "pp-secret")
	const base = "ssh -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=3"
	for _, tc := range []struct {
		name string
		opts Options
		host core.Host
		want string
	}{
		{"defaults", Options{}, core.Host{Name: "web1"},
			base + " -o StrictHostKeyChecking=yes"},
		{"settings", Options{SSH: core.SSHConfig{User: "deploy", Port: 2222, Keys: []string{k1, k2}, Passphrase: "pp-secret",
			KnownHosts: "/etc/grifork/known_hosts", Timeout: 2500 * time.Millisecond}}, core.Host{Name: "web1"},
			"ssh -o BatchMode=yes -o ConnectTimeout=3 -o ServerAliveInterval=15 -o ServerAliveCountMax=3 -p 2222 -l deploy -i '" + k1 + "' -i '" + k2 + "' -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/grifork/known_hosts"},
		{"host entry wins", Options{SSH: core.SSHConfig{User: "deploy", Port: 2222}}, core.Host{Name: "db1", User: "admin", Port: 22022},
			base + " -p 22022 -l admin -o StrictHostKeyChecking=yes"},
		{"accept-new", Options{SSH: core.SSHConfig{HostKeyCheck: "accept-new"}}, core.Host{Name: "web1"},
			base + " -o StrictHostKeyChecking=accept-new"},
		{"off", Options{SSH: core.SSHConfig{HostKeyCheck: "off", KnownHosts: "/k"}}, core.Host{Name: "web1"},
			base + " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"},
		{"secrets never appear", Options{SSH: core.SSHConfig{Password: "pw-secret", Passphrase: "pp-secret"}}, core.Host{Name: "web1"},
			base + " -o StrictHostKeyChecking=yes"},
		{"ssh config file", Options{ConfigFile: "none", Keepalive: 5 * time.Second}, core.Host{Name: "web1"},
			"ssh -F none -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=5 -o ServerAliveCountMax=3 -o StrictHostKeyChecking=yes"},
		{"known_hosts with a space", Options{SSH: core.SSHConfig{KnownHosts: "/my dir/kh"}}, core.Host{Name: "web1"},
			base + ` -o StrictHostKeyChecking=yes -o 'UserKnownHostsFile="/my dir/kh"'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.opts.ConfigFile == "" {
				tc.opts.ConfigFile = "none"
				tc.want = "ssh -F none" + tc.want[len("ssh"):]
			}
			tc.opts.Agent = "none"
			c, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.Rsh(tc.host); got != tc.want {
				t.Errorf("Rsh =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// The --rsh string works with a real rsync against a real sshd.
func TestRshWithRsync(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	if _, err := exec.LookPath("rsync"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rsync missing (CI=true)")
		}
		t.Skip("needs rsync")
	}
	c, _ := newClient(t, s, nil)
	src, dst := t.TempDir(), t.TempDir()
	files := map[string]string{"a.txt": "alpha\n", "sub dir/b c.txt": "beta\n"}
	for name, body := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	argv := []string{"rsync", "-a", "--rsh", c.Rsh(local), src + "/", local.RsyncTarget() + ":" + dst + "/"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Local(ctx, argv); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(b) != body {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
}

// A dry-run builds the --rsh on a machine without the keys: Offline loads none.
func TestOfflineNeedsNoKeys(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no_such_key")
	cfg := core.SSHConfig{User: "deploy", Keys: []string{missing}}
	if _, err := New(Options{SSH: cfg, ConfigFile: "none", Agent: "none"}); err == nil {
		t.Fatal("New with a missing key file: no error")
	}
	c, err := New(Options{SSH: cfg, ConfigFile: "none", Agent: "none", Offline: true})
	if err != nil {
		t.Fatalf("New offline: %v", err)
	}
	defer c.Close()
	if rsh := c.Rsh(core.Host{Name: "web1"}); !strings.Contains(rsh, "-i "+missing) {
		t.Errorf("Rsh = %q, want the configured key %s", rsh, missing)
	}
}

// The transport takes its defaults and checks from core.SSHConfig: a Config
// built in Go (no Griforkfile) gets the same timeout and host-key checking.
func TestNewUsesSSHConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(Options{ConfigFile: "none", Agent: "none", Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rsh := c.Rsh(core.Host{Name: "web1"})
	for _, want := range []string{"ConnectTimeout=10", "StrictHostKeyChecking=yes"} {
		if !strings.Contains(rsh, want) {
			t.Errorf("Rsh = %q, want %s", rsh, want)
		}
	}
	_, err = New(Options{SSH: core.SSHConfig{HostKeyCheck: "yes"}, ConfigFile: "none", Agent: "none", Offline: true})
	if err == nil || !strings.Contains(err.Error(), `host_key_check must be one of "strict", "accept-new", "off", got "yes"`) {
		t.Errorf("New with a bad host_key_check: %v", err)
	}
}
