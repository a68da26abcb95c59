package main

import (
	"github.com/grifork/grifork/core"
)

type graphCmd struct {
	fileFlags
	hostFlags
	Format string `enum:"text,dot" default:"text" help:"Output format: text or dot (Graphviz)."`
}

func (c *graphCmd) Run(e *env) error {
	s, err := loadScript(e, c.fileFlags, true)
	if err != nil {
		return err
	}
	defer s.close()
	tree, err := s.tree(c.selection())
	if err != nil {
		return err
	}
	if c.Format == "dot" {
		return core.RenderDOT(e.stdout, tree)
	}
	return core.RenderText(e.stdout, tree)
}
