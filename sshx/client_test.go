package sshx

import (
	"testing"

	"github.com/grifork/grifork/core/output"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
)

// newClient returns a Client for s with its key and known_hosts, no agent and
// no ssh_config; mod adjusts the options first.
func newClient(t *testing.T, s *sshdtest.SSHD, mod func(*Options)) (*Client, *sshdtest.SyncBuffer) {
	t.Helper()
	out := &sshdtest.SyncBuffer{}
	o := Options{
		SSH:        s.SSHConfig(),
		ConfigFile: "none",
		Agent:      "none",
	}
	if mod != nil {
		mod(&o)
	}
	if o.Output == nil {
		o.Output = output.NewPrinter(out, o.SSH.Redactor()).Writer
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, out
}

var local = sshdtest.Local
