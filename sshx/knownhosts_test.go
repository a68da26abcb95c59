package sshx

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"errors"
	"github.com/grifork/grifork/internal/testkit/golden"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// seeded is a deterministic ed25519 signer, so fingerprints in golden files are stable.
func seeded(t *testing.T, seed byte) ssh.Signer {
	t.Helper()
	s, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(make32(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func make32(b byte) []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = b
	}
	return s
}

// zeroReader makes certificate nonces deterministic.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func hostCert(t *testing.T, key ssh.PublicKey, ca ssh.Signer, principals ...string) *ssh.Certificate {
	t.Helper()
	c := &ssh.Certificate{Key: key, CertType: ssh.HostCert, KeyId: "host", ValidPrincipals: principals,
		ValidAfter: 0, ValidBefore: ssh.CertTimeInfinity}
	if err := c.SignCert(zeroReader{}, ca); err != nil {
		t.Fatal(err)
	}
	return c
}

func authLine(k ssh.PublicKey) string { return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) }

// TestHostKeyCheck covers known_hosts as ssh reads it: @cert-authority with
// host patterns, @revoked, key types, hashed names; the error lines are golden.
func TestHostKeyCheck(t *testing.T) {
	t.Parallel()
	ca, hostK, otherK := seeded(t, 1), seeded(t, 2), seeded(t, 3)
	ecK, err := ecdsa.GenerateKey(elliptic.P256(), rand.NewChaCha8([32]byte{4}))
	if err != nil {
		t.Fatal(err)
	}
	ecPub, _ := ssh.NewPublicKey(&ecK.PublicKey)
	host := hostK.PublicKey()
	cert := hostCert(t, host, ca, "web1")
	wrongPrincipal := hostCert(t, host, ca, "web9")
	caLine := "@cert-authority web*,!web3 " + authLine(ca.PublicKey())
	hashed := knownhosts.HashHostname("web1")

	dir := t.TempDir()
	var errLines strings.Builder
	for _, tc := range []struct {
		name  string
		known string
		host  string // default web1
		port  int    // default 22
		key   ssh.PublicKey
		want  error // nil: accepted
		algo  string
	}{
		{name: "ca-only known_hosts, certificate", known: caLine, key: cert, algo: ssh.CertAlgoED25519v01},
		{name: "ca-only known_hosts, plain key is unknown, not changed", known: caLine, key: host, want: ErrUnknownHostKey},
		{name: "ca negated for the host", known: caLine, host: "web3", key: hostCert(t, host, ca, "web3"), want: ErrUnknownHostKey},
		{name: "ca for other hosts", known: "@cert-authority db* " + authLine(ca.PublicKey()), key: cert, want: ErrUnknownHostKey},
		{name: "certificate for another principal", known: caLine, key: wrongPrincipal, want: ErrUnknownHostKey},
		{name: "certificate checked as its plain key", known: "web1 " + authLine(host), key: wrongPrincipal},
		{name: "plain key known", known: "web1 " + authLine(host), key: host, algo: ssh.KeyAlgoED25519},
		{name: "plain key changed", known: caLine + "\nweb1 " + authLine(otherK.PublicKey()), key: host, want: ErrHostKeyChanged},
		{name: "key of another type known", known: "web1 " + authLine(ecPub), key: host, want: ErrUnknownHostKey, algo: ssh.KeyAlgoECDSA256},
		{name: "line for another host", known: "web2 " + authLine(otherK.PublicKey()), key: host, want: ErrUnknownHostKey},
		{name: "hashed name", known: hashed + " " + authLine(host), key: host},
		{name: "port in brackets", known: "[web1]:2222 " + authLine(host), port: 2222, key: host},
		{name: "port 22 line does not match another port", known: "web1 " + authLine(host), port: 2222, key: host, want: ErrUnknownHostKey},
		{name: "revoked plain key", known: "web1 " + authLine(host) + "\n@revoked * " + authLine(host), key: host, want: ErrHostKeyRevoked},
		{name: "revoked certified key", known: caLine + "\n@revoked * " + authLine(host), key: cert, want: ErrHostKeyRevoked},
		{name: "revoked ca", known: caLine + "\n@revoked * " + authLine(ca.PublicKey()), key: cert, want: ErrHostKeyRevoked},
	} {
		f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
		if err := os.WriteFile(f, []byte(tc.known+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		tg := target{display: "h", hostname: "web1", port: 22, check: "strict", known: []string{f}, knownShown: "KNOWN_HOSTS"}
		if tc.host != "" {
			tg.hostname = tc.host
		}
		if tc.port != 0 {
			tg.port = tc.port
		}
		h := newHostKeys(slog.New(slog.DiscardHandler))
		err := h.check(tg, tc.key)
		if (err == nil) != (tc.want == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if tc.algo != "" {
			if got := h.handshake(tg).algorithms(); len(got) == 0 || got[0] != tc.algo {
				t.Errorf("%s: algorithms = %v, want %s first", tc.name, got, tc.algo)
			}
		}
		if err != nil {
			errLines.WriteString(tc.name + ":\n  " + strings.ReplaceAll(err.Error(), dir+"/", "") + "\n")
		}
	}
	golden.Check(t, "testdata/hostkey_errors.golden", errLines.String())
}
