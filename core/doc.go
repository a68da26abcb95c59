// Package core holds grifork's model of a run: the configuration, the host tree,
// the schedulers of both modes, the per-node report and dry-run planning. It talks
// to hosts only through the interfaces declared here, so it is tested with fakes.
package core
