package sshx

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"golang.org/x/crypto/ssh"
)

var defaultKeys = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}

// loadKey reads a private key. An encrypted key is opened with ssh { passphrase }.
// Errors name the file, never the passphrase.
func (c *Client) loadKey(path string) (ssh.Signer, error) {
	pem, err := os.ReadFile(c.expandPath(path))
	if err != nil {
		return nil, fmt.Errorf("ssh key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if c.opts.SSH.Passphrase == "" {
			return nil, fmt.Errorf("ssh key %s is encrypted: set ssh { passphrase = ... } or load it into ssh-agent", path)
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(c.opts.SSH.Passphrase))
		if err != nil {
			return nil, fmt.Errorf("ssh key %s: cannot decrypt it with the passphrase given: %s", path, c.redact(err.Error()))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ssh key %s: %s", path, c.redact(err.Error()))
	}
	return s, nil
}

// identity loads an IdentityFile of ssh_config or a default key once; unusable
// files are skipped (as ssh does without a terminal to ask for a passphrase).
func (c *Client) identity(path string) ssh.Signer {
	c.mu.Lock()
	s, seen := c.idSigners[path]
	c.mu.Unlock()
	if seen {
		return s
	}
	s, err := c.loadKey(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		c.log.Debug("skipping identity file", "file", path, "err", err)
	}
	c.mu.Lock()
	c.idSigners[path] = s
	c.mu.Unlock()
	return s
}

// authMethods are the credentials offered to t, in OpenSSH's spirit: keys
// (ssh { keys }, the agent's, IdentityFile; the default key files when there
// is none of these), each preceded by its certificates (CertificateFile, or
// KEY-cert.pub beside the key file), then the password.
func (c *Client) authMethods(t target) []ssh.AuthMethod {
	methods := []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) { return c.offered(t), nil })}
	if pw := c.opts.SSH.Password; pw != "" {
		methods = append(methods, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, echos []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range questions {
					if !echos[i] { // a hidden prompt is the password prompt
						answers[i] = pw
					}
				}
				return answers, nil
			}))
	}
	return methods
}

// offered lists the keys for t in the order they are offered.
func (c *Client) offered(t target) []ssh.Signer {
	ag := c.agentFor(t.agent)
	files := t.idFiles
	if len(c.signers) == 0 && len(files) == 0 && ag == nil {
		for _, f := range defaultKeys {
			files = append(files, c.expandPath(f))
		}
	}
	type keyFile struct {
		s    ssh.Signer
		path string // where the key was read: its -cert.pub sits beside it
	}
	var own []keyFile
	for i, s := range c.signers {
		own = append(own, keyFile{s, c.expandPath(c.opts.SSH.Keys[i])})
	}
	for _, f := range files {
		if s := c.identity(f); s != nil {
			own = append(own, keyFile{s, f})
		}
	}
	var certs []*ssh.Certificate
	for _, f := range t.certFiles {
		if cert := c.certificate(f); cert != nil {
			certs = append(certs, cert)
		} else {
			c.log.Debug("skipping certificate file", "file", f)
		}
	}
	var out []ssh.Signer
	add := func(s ssh.Signer, path string) {
		if _, isCert := s.PublicKey().(*ssh.Certificate); !isCert {
			for _, cert := range certs {
				if cs, err := ssh.NewCertSigner(cert, s); err == nil {
					out = append(out, cs)
				}
			}
			if path != "" {
				if cert := c.certificate(path + "-cert.pub"); cert != nil {
					if cs, err := ssh.NewCertSigner(cert, s); err == nil {
						out = append(out, cs)
					}
				}
			}
		}
		out = append(out, s)
	}
	for _, k := range own[:len(c.signers)] {
		add(k.s, k.path)
	}
	if ag != nil {
		as, err := ag.Signers()
		if err != nil {
			c.log.Warn("ssh-agent: cannot list keys", "err", err)
		}
		// The agent's certificates before its plain keys, as ssh offers them.
		slices.SortStableFunc(as, func(a, b ssh.Signer) int { return certFirst(b) - certFirst(a) })
		for _, s := range as {
			if t.identitiesOnly && !slices.ContainsFunc(own, func(k keyFile) bool { return keyEqual(plainKey(s.PublicKey()), k.s.PublicKey()) }) {
				continue
			}
			add(s, "")
		}
	}
	for _, k := range own[len(c.signers):] {
		add(k.s, k.path)
	}
	return dedupe(out)
}

func certFirst(s ssh.Signer) int {
	if _, ok := s.PublicKey().(*ssh.Certificate); ok {
		return 1
	}
	return 0
}

func plainKey(k ssh.PublicKey) ssh.PublicKey {
	if c, ok := k.(*ssh.Certificate); ok {
		return c.Key
	}
	return k
}

// certificate reads a user certificate once; nil when missing or not one.
func (c *Client) certificate(path string) *ssh.Certificate {
	c.mu.Lock()
	cert, seen := c.certs[path]
	c.mu.Unlock()
	if seen {
		return cert
	}
	if b, err := os.ReadFile(path); err == nil {
		k, _, _, _, err := ssh.ParseAuthorizedKey(b)
		if cc, ok := k.(*ssh.Certificate); err == nil && ok && cc.CertType == ssh.UserCert {
			cert = cc
		} else {
			c.log.Warn("not a user certificate, ignored", "file", path)
		}
	}
	c.mu.Lock()
	c.certs[path] = cert
	c.mu.Unlock()
	return cert
}

func dedupe(signers []ssh.Signer) []ssh.Signer {
	seen := map[string]bool{}
	var out []ssh.Signer
	for _, s := range signers {
		k := string(s.PublicKey().Marshal())
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}
