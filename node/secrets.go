package node

import (
	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/redact"
)

// Secrets are the root's final ssh secrets. A parent sends them to a forked
// node in its Hello, never in a file, and the node applies them after loading
// the Griforkfile, so a secret the Griforkfile computes (from the root's
// environment, say) is the same value on every node.
type Secrets struct {
	Password   string `json:"password,omitempty"`
	Passphrase string `json:"passphrase,omitempty"`
}

// SecretsOf is the secrets of c.
func SecretsOf(c core.SSHConfig) Secrets {
	return Secrets{Password: c.Password, Passphrase: c.Passphrase}
}

// Apply sets c's secrets to s.
func (s Secrets) Apply(c *core.SSHConfig) {
	c.Password, c.Passphrase = s.Password, s.Passphrase
}

// Redactor redacts s.
func (s Secrets) Redactor() *redact.Redactor { return redact.New(s.Password, s.Passphrase) }
