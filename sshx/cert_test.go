package sshx

import (
	"bytes"
	"context"
	"crypto/rand"
	"github.com/grifork/grifork/internal/testkit/golden"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func userCert(t *testing.T, key ssh.PublicKey, ca ssh.Signer) *ssh.Certificate {
	t.Helper()
	c := &ssh.Certificate{Key: key, CertType: ssh.UserCert, KeyId: "test", ValidPrincipals: []string{"root"},
		ValidBefore: ssh.CertTimeInfinity, Permissions: ssh.Permissions{Extensions: map[string]string{"permit-pty": ""}}}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return c
}

func publicOf(t *testing.T, keyFile string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

// An sshd that trusts a user CA and has no authorized key: only a
// certificate logs in, found beside the key (KEY-cert.pub), named by
// CertificateFile, or held by the agent.
func TestUserCertificate(t *testing.T) {
	t.Parallel()
	ca := seeded(t, 7)
	s := sshdtest.Start(t, sshdtest.Opts{UserCA: ca})
	cert := ssh.MarshalAuthorizedKey(userCert(t, publicOf(t, s.UserKey), ca))

	t.Run("without certificate", func(t *testing.T) {
		t.Parallel()
		c, _ := newClient(t, s, nil)
		if _, err := c.Remote(context.Background(), local, "true"); err == nil || !strings.Contains(err.Error(), "authentication failed") {
			t.Fatalf("err = %v, want authentication failed", err)
		}
	})
	t.Run("KEY-cert.pub beside ssh keys", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		key := filepath.Join(dir, "id")
		copyFile(t, s.UserKey, key)
		os.WriteFile(key+"-cert.pub", cert, 0o600)
		c, _ := newClient(t, s, func(o *Options) { o.SSH.Keys = []string{key} })
		if _, err := c.Remote(context.Background(), local, "true"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("CertificateFile and IdentityFile", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		key, certFile := filepath.Join(dir, "k"), filepath.Join(dir, "elsewhere.pub")
		copyFile(t, s.UserKey, key)
		os.WriteFile(certFile, cert, 0o600)
		cfg := filepath.Join(dir, "config")
		os.WriteFile(cfg, []byte("Host 127.0.0.1\n  IdentityFile "+key+"\n  CertificateFile "+certFile+"\n"), 0o600)
		c, _ := newClient(t, s, func(o *Options) { o.SSH.Keys, o.ConfigFile = nil, cfg })
		if _, err := c.Remote(context.Background(), local, "true"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("agent key with certificate", func(t *testing.T) {
		t.Parallel()
		pem, _ := os.ReadFile(s.UserKey)
		raw, err := ssh.ParseRawPrivateKey(pem)
		if err != nil {
			t.Fatal(err)
		}
		keyring := agent.NewKeyring()
		if err := keyring.Add(agent.AddedKey{PrivateKey: raw, Certificate: userCert(t, publicOf(t, s.UserKey), ca)}); err != nil {
			t.Fatal(err)
		}
		sock := serveAgent(t, keyring)
		c, _ := newClient(t, s, func(o *Options) { o.SSH.Keys, o.Agent = nil, sock })
		if _, err := c.Remote(context.Background(), local, "true"); err != nil {
			t.Fatal(err)
		}
	})
}

func serveAgent(t *testing.T, keyring agent.Agent) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				agent.ServeAgent(keyring, conn)
			}()
		}
	}()
	return sock
}

// Certificates are offered before the plain key.
func TestCertificateOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	pub := sshdtest.WriteKey(t, key, "")
	os.WriteFile(key+"-cert.pub", ssh.MarshalAuthorizedKey(userCert(t, pub, seeded(t, 5))), 0o600)
	c, err := New(Options{ConfigFile: "none", Agent: "none", SSH: coreSSH("")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.opts.SSH.Keys = []string{key}
	s, err := c.loadKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c.signers = []ssh.Signer{s}
	var got []string
	for _, sg := range c.offered(target{}) {
		got = append(got, sg.PublicKey().Type())
	}
	if strings.Join(got, ",") != ssh.CertAlgoED25519v01+","+ssh.KeyAlgoED25519 {
		t.Errorf("offered %v, want the certificate then the key", got)
	}
}

// Keywords that change how a host is reached and that grifork does not
// honour are a warning naming file:line, once per run; unknown ones too.
func TestConfigWarnings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte("Host web*\n  HostKeyAlias shared\n  Frobnicate 1\nHost *\n  PreferredAuthentications password\n  SendEnv LANG\n"), 0o600)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	c, err := New(Options{ConfigFile: cfg, Agent: "none", Logger: log, Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, h := range []string{"web1", "web2", "db1"} {
		c.Route(core.Host{Name: h})
	}
	golden.Check(t, "testdata/config_warnings.golden", strings.ReplaceAll(buf.String(), dir+"/", ""))
}
