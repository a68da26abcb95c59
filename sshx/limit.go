package sshx

import (
	"fmt"
	"syscall"

	"github.com/grifork/grifork/core"
)

// Every connection holds one file descriptor in this process. The rest of
// the process keeps a reserve: its standard streams, the log, the agent's
// socket, and about three per local command running (rsync's pipes and its
// pidfd; the ssh that rsync starts has its own descriptor table).
func fdReserve(nofile int) int { return max(32, nofile/4) }

// fitConnections returns the bound on open connections: want (0: the default)
// within what the descriptor limit nofile leaves after the reserve, and
// a warning when want had to be lowered.
func fitConnections(want, nofile int) (n int, warning string) {
	fit := max(1, nofile-fdReserve(nofile))
	switch {
	case want == 0:
		return min(core.DefaultMaxConnections, fit), ""
	case want > fit:
		return fit, fmt.Sprintf("ssh: max_connections = %d does not fit in the file-descriptor limit of %d (ulimit -n, hard): using %d, "+
			"keeping %d descriptors for the rest of grifork; raise the hard limit to allow more", want, nofile, fit, nofile-fit)
	}
	return want, ""
}

// nofile is this process's descriptor limit. Go (1.19 and later) raised the
// soft limit to one below the hard one at start (children get the original
// back): that is the hard limit, as the user knows it.
func nofile() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 1 << 30
	}
	if r.Cur+1 == r.Max {
		return int(r.Max)
	}
	return int(r.Cur)
}
