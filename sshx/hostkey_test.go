package sshx

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestHostKeyChecking(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	fp := ssh.FingerprintSHA256(s.HostKey)
	otherPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ssh.NewPublicKey(otherPub)
	changedLine := knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, other) + "\n"

	for _, tc := range []struct {
		name      string
		known     string // known_hosts content; "-" for no file
		check     string
		wantErr   error
		wantText  []string
		wantAdded bool
	}{
		{name: "strict known", known: "", check: "strict"},
		{name: "strict unknown", known: "-", check: "strict", wantErr: ErrUnknownHostKey,
			wantText: []string{"host 127.0.0.1: unknown host key (ED25519 " + fp + "); once you have checked the fingerprint, add this line to ",
				": " + knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, s.HostKey) + ` (or set ssh { host_key_check = "accept-new" })`}},
		{name: "default is strict", known: "# nothing\n", check: "", wantErr: ErrUnknownHostKey},
		{name: "strict changed", known: changedLine, check: "strict", wantErr: ErrHostKeyChanged,
			wantText: []string{"host 127.0.0.1: HOST KEY CHANGED", "offers ED25519 " + fp, "known_hosts:1 holds ED25519 " + ssh.FingerprintSHA256(other)}},
		{name: "accept-new unknown", known: "# no newline at end", check: "accept-new", wantAdded: true},
		{name: "accept-new no file", known: "-", check: "accept-new", wantAdded: true},
		{name: "accept-new changed", known: changedLine, check: "accept-new", wantErr: ErrHostKeyChanged},
		{name: "off changed", known: changedLine, check: "off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kh := filepath.Join(t.TempDir(), "sub", "known_hosts")
			switch tc.known {
			case "-":
			case "":
				copyFile(t, s.KnownHosts, kh)
			default:
				os.MkdirAll(filepath.Dir(kh), 0o700)
				os.WriteFile(kh, []byte(tc.known), 0o600)
			}
			c, _ := newClient(t, s, func(o *Options) { o.SSH.KnownHosts = kh; o.SSH.HostKeyCheck = tc.check })
			_, err := c.Remote(context.Background(), local, "true")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			for _, w := range tc.wantText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !tc.wantAdded {
				return
			}
			// The appended line is valid and makes a strict client trust the host.
			strict, _ := newClient(t, s, func(o *Options) { o.SSH.KnownHosts = kh })
			if _, err := strict.Remote(context.Background(), local, "true"); err != nil {
				t.Errorf("strict after accept-new: %v", err)
			}
		})
	}
}

// Concurrent connections under accept-new add the key once.
func TestAcceptNewConcurrent(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.Opts{})
	kh := filepath.Join(t.TempDir(), "known_hosts")
	var wg sync.WaitGroup
	for range 6 {
		// Separate clients: separate connections racing for the file.
		c, _ := newClient(t, s, func(o *Options) { o.SSH.KnownHosts = kh; o.SSH.HostKeyCheck = "accept-new" })
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Remote(context.Background(), local, "true"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	b, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 1 {
		t.Errorf("known_hosts has %d lines, want 1:\n%s", n, b)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A real sshd with a host certificate and a known_hosts holding only the CA:
// the certificate algorithms are offered and the host verifies; with the CA
// revoked, the host is refused by name.
func TestHostCertificate(t *testing.T) {
	t.Parallel()
	ca := seeded(t, 9)
	s := sshdtest.Start(t, sshdtest.Opts{HostCA: ca})
	c, _ := newClient(t, s, nil)
	if _, err := c.Remote(context.Background(), local, "true"); err != nil {
		t.Fatalf("CA-only known_hosts: %v", err)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	copyFile(t, s.KnownHosts, kh)
	f, err := os.OpenFile(kh, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("@revoked * " + authLine(ca.PublicKey()) + "\n")
	f.Close()
	c, _ = newClient(t, s, func(o *Options) { o.SSH.KnownHosts = kh })
	_, err = c.Remote(context.Background(), local, "true")
	if !errors.Is(err, ErrHostKeyRevoked) || !strings.Contains(err.Error(), "host 127.0.0.1: host key revoked") {
		t.Fatalf("revoked CA: err = %v", err)
	}
}
