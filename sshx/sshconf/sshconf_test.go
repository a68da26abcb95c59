package sshconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A config ssh cannot read is an error naming file:line, whether or not the
// block applies (as ssh).
func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ text, want string }{
		{"Host a\n  Port\n", "config:2: port: missing argument"},
		{"Host a\n  User \"bob\n", "config:2: unterminated quote"},
		{"Match host a colour blue\n", `config:1: Match: unsupported attribute "colour"`},
		{"Match user\n", "config:1: Match user: missing argument"},
		{"Match all host a\n", "config:1: Match all: must appear alone or with canonical or final"},
		{"Host x\n  IdentityFile /a /b\n", "config:2: identityfile: extra arguments at end of line"},
		{"Port 22x\n", `config:1: port: bad number "22x"`},
		{"StrictHostKeyChecking maybe\n", `config:1: StrictHostKeyChecking: unsupported value "maybe"`},
		{"Include inc\n", "inc:2: connecttimeout: bad number \"soon\""},
		{"Include loop\n", "Include: nested more than 16 deep"},
	} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, ".ssh"), 0o700)
		os.WriteFile(filepath.Join(dir, ".ssh", "inc"), []byte("Host *\n  ConnectTimeout soon\n"), 0o600)
		os.WriteFile(filepath.Join(dir, ".ssh", "loop"), []byte("Include loop\n"), 0o600)
		p := filepath.Join(dir, ".ssh", "config")
		os.WriteFile(p, []byte(tc.text), 0o600)
		_, err := Load(p, true, "", dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestResolveBasics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "config")
	os.WriteFile(p, []byte(`Host web
  HostKeyAlias other
  CanonicalizeHostname no
  Frobnicate yes
  User = first
  User second
Host *
  IdentityFile a
  IdentityFile b
`), 0o600)
	c, err := Load(p, true, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Unknown) != 1 || c.Unknown[0].Key != "frobnicate" || c.Unknown[0].Pos() != p+":4" {
		t.Errorf("unknown = %v", c.Unknown)
	}
	r, err := c.Resolve(Params{Host: "web", LocalUser: "me"})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Arg("user"); got != "first" {
		t.Errorf("user = %q, want first (the first value wins)", got)
	}
	if n := len(r.All("identityfile")); n != 2 {
		t.Errorf("%d identity files, want 2", n)
	}
	// HostKeyAlias applies and is not honoured; CanonicalizeHostname no changes nothing.
	if len(r.Applied) != 1 || r.Applied[0].Key != "hostkeyalias" || r.Applied[0].Pos() != p+":2" {
		t.Errorf("applied = %v", r.Applied)
	}
	// Match exec runs only when reached, with tokens expanded.
	os.WriteFile(p, []byte("Match exec \"check %h %r\"\n  Port 2\n"), 0o600)
	c, _ = Load(p, true, "", dir)
	var ran []string
	r, _ = c.Resolve(Params{Host: "h1", User: "u", LocalUser: "me", Exec: func(cmd string) (bool, error) {
		ran = append(ran, cmd)
		return true, nil
	}})
	if strings.Join(ran, ";") != "check h1 u" || r.Arg("port") != "2" {
		t.Errorf("exec ran %q, port %q", ran, r.Arg("port"))
	}
}
