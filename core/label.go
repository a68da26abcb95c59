package core

import "context"

// Label is the host that the output of e's task is labelled with on the
// machine that runs it: its destination, else its source; "" outside a task.
func (e Edge) Label() string {
	switch {
	case e.Dst != nil:
		return e.Dst.Name()
	case e.Src != nil:
		return e.Src.Name()
	}
	return ""
}

// OutputLabel is the one rule for labelling the output lines of a command run
// for ctx's task, which the transport is given (sshx.Options.Label) and does
// not know itself: a command on this machine (host nil) is labelled with the
// task's host (Edge.Label), a command on host with host, except on the edge's
// source for the copy to its destination (rsync_remote: the output is about
// that child, and a parent's children must not all read as the parent). ""
// leaves the label to the transport: the host as shown, or RootHost.
func OutputLabel(ctx context.Context, host *Host) string {
	e, ok := EdgeFrom(ctx)
	if !ok {
		return ""
	}
	if host == nil {
		return e.Label()
	}
	if e.Src != nil && e.Dst != nil && host.Name == e.Src.Host.Name && host.Name != e.Dst.Host.Name {
		return e.Dst.Name()
	}
	return ""
}

// Printer prints labelled lines of output. It is core/output's Printer, which
// the caller builds: core declares what it needs, so that the model does not
// import the output (nor, through core, does the transport).
type Printer interface {
	// Line prints line labelled with prefix.
	Line(prefix, line string)
	// Relay prints a line that a node's printer formatted ("host | text").
	Relay(line string)
}
