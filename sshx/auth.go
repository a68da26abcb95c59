package sshx

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

var defaultKeys = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}

// loadKey reads a private key. An encrypted key is opened with ssh { passphrase }.
// Errors name the file, never the passphrase.
func (c *Client) loadKey(path string) (ssh.Signer, error) {
	p, err := expandHome(path)
	if err != nil {
		return nil, fmt.Errorf("ssh key %s: %w", path, err)
	}
	pem, err := os.ReadFile(p)
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
// (explicit, agent, ssh_config, defaults), then the password.
func (c *Client) authMethods(t target) []ssh.AuthMethod {
	var files []string
	for _, f := range t.idFiles {
		files = append(files, expandTokens(f, t, c.me))
	}
	if len(c.signers) == 0 && len(files) == 0 && c.agent == nil {
		files = defaultKeys
	}
	var fileSigners []ssh.Signer
	for _, f := range files {
		if s := c.identity(f); s != nil {
			fileSigners = append(fileSigners, s)
		}
	}
	var methods []ssh.AuthMethod
	methods = append(methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
		all := append([]ssh.Signer(nil), c.signers...)
		if c.agent != nil {
			as, err := c.agent.Signers()
			if err != nil {
				c.log.Warn("ssh-agent: cannot list keys", "err", err)
			}
			all = append(all, as...)
		}
		return dedupe(append(all, fileSigners...)), nil
	}))
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

// expandTokens expands the ssh_config tokens that make sense in IdentityFile.
func expandTokens(s string, t target, me string) string {
	home, _ := os.UserHomeDir()
	r := strings.NewReplacer("%%", "%", "%d", home, "%h", t.hostname, "%r", t.user, "%u", me, "%p", fmt.Sprint(t.port))
	return r.Replace(s)
}
