package app

import (
	"fmt"

	"github.com/grifork/grifork/core"
)

type graphCmd struct {
	fileFlags
	hostFlags
	Format string `enum:"text,dot" default:"text" help:"Output format: text or dot (Graphviz)."`
}

func (c *graphCmd) Run(e *env) error {
	e.hostsGiven = len(c.Hosts) > 0
	s, err := loadScript(e, c.fileFlags, true)
	if err != nil {
		return err
	}
	defer s.close()
	tree, err := s.tree(e.ctx, c.selection())
	if err != nil {
		return err
	}
	render := core.RenderText
	if c.Format == "dot" {
		render = core.RenderDOT
	}
	if err := render(e.stdout, tree); err != nil {
		return err
	}
	if c.Format == "text" {
		if err := s.writeSelected(e.stdout, tree); err != nil {
			return err
		}
	}
	bt, err := s.broadcastTree()
	if err != nil || bt == nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nbroadcast tree (branches %d):\n", bt.Branches)
	return render(e.stdout, bt)
}
