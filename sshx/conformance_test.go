package sshx

import (
	"testing"

	"github.com/grifork/grifork/internal/testkit/exectest"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
)

// The transport passes the conformance suite of every core.Exec against a
// real sshd.
func TestExecConformance(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Opts{})
	exectest.RunExec(t, func(t *testing.T) exectest.Subject {
		c, out := newClient(t, s, func(o *Options) { o.SSH.Password = exectest.Secret })
		return exectest.Subject{Exec: c, Host: local, Label: local.String(), Runs: true, Printed: out.String}
	})
}
