package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	luasrc "github.com/grifork/grifork/lua"
)

type initCmd struct {
	Path string `arg:"" optional:"" default:"Griforkfile.lua" help:"Where to write the starter Griforkfile."`
}

func (c *initCmd) Run(e *env) error {
	f, err := os.OpenFile(c.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return usageErr(fmt.Errorf("%s exists; grifork init never overwrites a Griforkfile", c.Path))
	}
	if err != nil {
		return usageErr(err)
	}
	if _, err := f.WriteString(luasrc.Starter); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "grifork: wrote %s; plan it with: grifork -n -f %s\n", c.Path, c.Path)
	return nil
}
