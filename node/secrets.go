package node

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/redact"
)

// Secrets are the root's final ssh secrets. A parent sends them to a forked
// node as the first line of the node's standard input, never in a file: the
// Griforkfile a node receives has them replaced (Scrub), and the node applies
// these after loading it, so a secret the Griforkfile computes (from the root's
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

// line is s as the first line of a node's standard input.
func (s Secrets) line() ([]byte, error) {
	b, err := json.Marshal(s)
	return append(b, '\n'), err
}

// ReadSecrets reads the secrets line from the start of a node's standard
// input. r must be the reader the rest of the input is read from as well
// (it is buffered).
func ReadSecrets(r *bufio.Reader) (Secrets, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return Secrets{}, fmt.Errorf("read the secrets from the parent: %w", err)
	}
	var s Secrets
	if err := json.Unmarshal(line, &s); err != nil {
		return Secrets{}, fmt.Errorf("read the secrets from the parent: %w", err)
	}
	return s, nil
}

// scrubbed stands in for a secret in a Griforkfile shipped to a node.
const scrubbed = "(secret: sent to the node in memory)"

// Scrub returns src with every Lua string literal that is exactly one of the
// secrets replaced by a placeholder literal, so the file a node writes to its
// disk holds none of them. (A secret the file computes is not in its text.)
// Only whole literals are replaced: replacing every occurrence of a short
// secret could change the code itself.
func (s Secrets) Scrub(src []byte) []byte {
	out := string(src)
	for _, sec := range []string{s.Password, s.Passphrase} {
		if sec == "" {
			continue
		}
		var pairs []string
		for _, lit := range luaLiterals(sec) {
			pairs = append(pairs, lit, `"`+scrubbed+`"`)
		}
		out = strings.NewReplacer(pairs...).Replace(out)
	}
	return []byte(out)
}

// luaLiterals are the usual ways of writing v as a Lua string literal.
func luaLiterals(v string) []string {
	lits := []string{`"` + luaEscape(v, '"') + `"`, `'` + luaEscape(v, '\'') + `'`}
	if !strings.Contains(v, "]]") && !strings.Contains(v, "\n") {
		lits = append(lits, "[["+v+"]]")
	}
	return lits
}

func luaEscape(v string, quote byte) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', quote:
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Redactor redacts s.
func (s Secrets) Redactor() *redact.Redactor { return redact.New(s.Password, s.Passphrase) }
