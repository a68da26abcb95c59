package node

import (
	"path/filepath"
	"testing"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/internal/testkit/exectest"
	"github.com/grifork/grifork/internal/testkit/sshdtest"
	"github.com/grifork/grifork/internal/testkit/testbin"
)

// The Forker passes the conformance suite of every core.Forker: grifork
// itself, shipped over a real sshd, runs the child's part.
func TestForkerConformance(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Opts{})
	bin, err := testbin.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// One tmpdir: the binary is shipped once, for all (as to a node's forks).
	tmpdir := filepath.Join(t.TempDir(), "tmp")
	exectest.RunForker(t, func(t *testing.T, griforkfile string) exectest.ForkSubject {
		c, _ := newClient(t, s, nil)
		tree, err := core.BuildTree([]core.Host{sshdtest.Local}, 2)
		if err != nil {
			t.Fatal(err)
		}
		f := NewForker(c, ForkOptions{Grifork: core.GriforkConfig{Tmpdir: tmpdir},
			Griforkfile: []byte(griforkfile), Binary: bin})
		child := tree.Root.Children[0]
		return exectest.ForkSubject{Forker: f, Parent: tree.Root, Child: child, Sub: tree.Subtree(child)}
	})
}
