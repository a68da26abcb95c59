package core_test

import (
	"testing"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/exectest"
)

// The dry-run Recorder passes the conformance suite of every core.Exec: it
// runs nothing and records each command as it was given.
func TestRecorderConformance(t *testing.T) {
	t.Parallel()
	exectest.RunExec(t, func(t *testing.T) exectest.Subject {
		sc := core.SSHConfig{Password: exectest.Secret}
		rec := core.NewRecorder(nil, sc.Redactor())
		// Outside any task: recorded under the zero edge.
		return exectest.Subject{Exec: rec, Host: core.Host{Name: "web1", User: "deploy"}, Label: "deploy@web1",
			Recorded: func() []core.Step { return rec.Steps(core.Edge{}) }}
	})
}
