package sim

import (
	"testing"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/exectest"
)

// The simulated transport passes the conformance suite of every core.Exec:
// its commands take their modelled time and stop with ctx.
func TestExecConformance(t *testing.T) {
	t.Parallel()
	exectest.RunExec(t, func(t *testing.T) exectest.Subject {
		host := core.Host{Name: "web1"}
		tree, err := core.BuildTree([]core.Host{host}, 2)
		if err != nil {
			t.Fatal(err)
		}
		// A modelled minute is 60 ms: long next to an ended ctx.
		ex := NewExec(Model{Latency: time.Minute, Scale: 0.001}, tree)
		return exectest.Subject{Exec: ex, Host: host, Label: "web1"}
	})
}
