package main

import (
	"os"
	"path/filepath"

	"github.com/grifork/grifork/sshx"
)

func main() {
	// Called by the name of its link, grifork is the remote shell of the
	// rsyncs it starts: internal, not a subcommand.
	if filepath.Base(os.Args[0]) == sshx.RshName {
		os.Exit(sshx.RshMain(os.Args[1:]))
	}
	os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
