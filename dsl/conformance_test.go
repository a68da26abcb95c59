package dsl

import (
	"testing"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/exectest"
)

// The fake transport of these tests passes the conformance suite of every
// core.Exec, so that what the tests see of it holds of the real one.
func TestFakeExecConformance(t *testing.T) {
	t.Parallel()
	exectest.RunExec(t, func(t *testing.T) exectest.Subject {
		f := &fakeExec{}
		return exectest.Subject{Exec: f, Host: core.Host{Name: "web1", Port: 2222}, Label: "web1:2222", Recorded: f.Steps}
	})
}
