package sshx

import (
	"context"
	"errors"
	"fmt"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grifork/grifork/core"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func TestAuthKeys(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	dir := t.TempDir()
	stranger := filepath.Join(dir, "stranger")
	sshdtest.WriteKey(t, stranger, "")
	const passphrase = "correct horse battery"
	encrypted := filepath.Join(dir, "encrypted")
	pub := sshdtest.WriteKey(t, encrypted, passphrase)
	authorize(t, s, pub)

	for _, tc := range []struct {
		name       string
		keys       []string
		passphrase string
		wantNewErr string // error from New
		wantErr    error
	}{
		{name: "authorized key", keys: []string{s.UserKey}},
		{name: "wrong key", keys: []string{stranger}, wantErr: ErrAuth},
		{name: "wrong key then right key", keys: []string{stranger, s.UserKey}},
		{name: "encrypted key with passphrase", keys: []string{encrypted}, passphrase: passphrase},
		{name: "encrypted key without passphrase", keys: []string{encrypted}, wantNewErr: "is encrypted: set ssh { passphrase"},
		{name: "encrypted key wrong passphrase", keys: []string{encrypted}, passphrase: "wrong-pass-phrase", wantNewErr: "cannot decrypt"},
		{name: "missing key file", keys: []string{filepath.Join(dir, "nope")}, wantNewErr: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := Options{SSH: core.SSHConfig{User: "root", Port: s.Port, Keys: tc.keys, Passphrase: tc.passphrase, KnownHosts: s.KnownHosts},
				ConfigFile: "none", Agent: "none"}
			c, err := New(o)
			if tc.wantNewErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantNewErr) {
					t.Fatalf("New: err = %v, want one containing %q", err, tc.wantNewErr)
				}
				if tc.passphrase != "" && strings.Contains(err.Error(), tc.passphrase) {
					t.Errorf("error shows the passphrase: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Remote(context.Background(), local, "true")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "host 127.0.0.1: authentication failed as root") {
				t.Errorf("error %q does not name host and user", err)
			}
			// A permanent failure is remembered, not redialled.
			if err != nil {
				before := s.Connections(t)
				if _, err2 := c.Remote(context.Background(), local, "true"); !errors.Is(err2, ErrAuth) {
					t.Errorf("second call: %v", err2)
				}
				if after := s.Connections(t); after != before {
					t.Errorf("a failed authentication was retried (%d -> %d connections)", before, after)
				}
			}
		})
	}
}

func authorize(t *testing.T, s *sshdtest.SSHD, pub ssh.PublicKey) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(s.Dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(ssh.MarshalAuthorizedKey(pub)); err != nil {
		t.Fatal(err)
	}
}

func TestAuthPassword(t *testing.T) {
	t.Parallel()
	const password = "Tr0ub4dor&3-grifork"
	s := sshdtest.Start(t, sshdtest.Opts{Password: password})
	for _, tc := range []struct {
		name     string
		password string
		wantErr  error
	}{
		{"right password", password, nil},
		{"wrong password", "not-the-password", ErrAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs := &sshdtest.SyncBuffer{}
			c, out := newClient(t, s, func(o *Options) {
				o.SSH.User, o.SSH.Keys, o.SSH.Password = sshdtest.PasswordUser, nil, tc.password
				o.Logger = slogTo(logs)
			})
			got, err := c.Remote(context.Background(), local, "id -un")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v; output:\n%s", err, tc.wantErr, out)
			}
			if err == nil && got != sshdtest.PasswordUser+"\n" {
				t.Errorf("logged in as %q, want %s", got, sshdtest.PasswordUser)
			}
			if err != nil && strings.Contains(err.Error(), tc.password) {
				t.Errorf("error shows the password: %v", err)
			}
			if strings.Contains(logs.String(), tc.password) {
				t.Errorf("log shows the password: %s", logs)
			}
		})
	}
}

func TestSSHConfigFile(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	cfg := filepath.Join(t.TempDir(), "config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("Host web3\n  HostName 127.0.0.1\n  Port %d\n  User root\n  IdentityFile %s\n", s.Port, s.UserKey)), 0o600)
	// Neither user, port nor keys in the settings: all come from the ssh_config file.
	c, _ := newClient(t, s, func(o *Options) {
		o.SSH = coreSSH(s.KnownHosts)
		o.ConfigFile = cfg
	})
	got, err := c.Remote(context.Background(), core.Host{Name: "web3"}, "id -un")
	if err != nil || got != "root\n" {
		t.Fatalf("Remote via ssh_config: %q, %v", got, err)
	}
	// The host key is checked under the real address, and errors name the host as written.
	c2, _ := newClient(t, s, func(o *Options) {
		o.SSH = coreSSH(filepath.Join(t.TempDir(), "empty"))
		o.ConfigFile = cfg
	})
	_, err = c2.Remote(context.Background(), core.Host{Name: "web3"}, "true")
	if !errors.Is(err, ErrUnknownHostKey) || !strings.HasPrefix(err.Error(), "host web3: unknown host key (ED25519 SHA256:") {
		t.Errorf("err = %v", err)
	}
}

func coreSSH(knownHosts string) core.SSHConfig { return core.SSHConfig{KnownHosts: knownHosts} }

// Keys held by an ssh-agent (here an in-process keyring served on a socket)
// authenticate without any key file.
func TestAuthAgent(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	pem, err := os.ReadFile(s.UserKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ssh.ParseRawPrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: raw}); err != nil {
		t.Fatal(err)
	}
	sock := serveAgent(t, keyring)
	c, _ := newClient(t, s, func(o *Options) { o.SSH.Keys, o.Agent = nil, sock })
	if got, err := c.Remote(context.Background(), local, "echo via agent"); err != nil || got != "via agent\n" {
		t.Fatalf("Remote: %q, %v", got, err)
	}
}
