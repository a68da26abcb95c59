package app

import (
	"fmt"
	"os"

	"github.com/grifork/grifork/dsl/ruby"
)

type convertCmd struct {
	Path   string `arg:"" optional:"" default:"Griforkfile" help:"Ruby Griforkfile to convert."`
	Output string `short:"o" placeholder:"OUT" help:"Write the Lua here instead of standard output."`
}

func (c *convertCmd) Run(e *env) error {
	src, err := os.ReadFile(c.Path)
	if err != nil {
		return usageErr(err)
	}
	lua, err := ruby.Convert(c.Path, src)
	if err != nil {
		return usageErr(err)
	}
	if c.Output == "" {
		_, err = e.stdout.Write(lua)
		return err
	}
	if err := os.WriteFile(c.Output, lua, 0o644); err != nil {
		return usageErr(err)
	}
	fmt.Fprintf(e.stderr, "grifork: wrote %s\n", c.Output)
	return nil
}
