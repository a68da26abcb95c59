package core

import (
	"sync/atomic"
)

// Phases of a broadcast, as a Transfer shows them.
const (
	PhaseStarting  = "starting"  // readying the hosts and starting the relays
	PhaseComparing = "comparing" // the manifest went out; the hosts say what they lack
	PhaseSending   = "sending"   // the contents stream down the tree
	PhaseDone      = "done"      // the stream ended; the hosts commit and report
)

// Transfer counts a broadcast's progress while it runs, for a live progress
// line: the broadcaster updates it, the line reads it from another goroutine.
// Its zero value is ready, and the methods of a nil *Transfer do nothing, so
// a broadcaster need not ask whether anyone watches.
type Transfer struct {
	phase atomic.Pointer[string]
	hosts atomic.Int64
	done  atomic.Int64 // hosts whose relay reported how it ended
	total atomic.Int64 // content bytes the stream carries: known once every host said what it lacks
	sent  atomic.Int64 // content bytes that left the root: every stream to its children took them
}

// TransferStatus is a Transfer at one moment.
type TransferStatus struct {
	Phase       string // "" before the broadcast starts
	Hosts, Done int
	Total, Sent int64
}

// Start begins a broadcast to hosts hosts (a heal's round starts another).
func (t *Transfer) Start(hosts int) {
	if t == nil {
		return
	}
	t.hosts.Store(int64(hosts))
	t.done.Store(0)
	t.total.Store(0)
	t.sent.Store(0)
	t.SetPhase(PhaseStarting)
}

// SetPhase records the phase the broadcast is in.
func (t *Transfer) SetPhase(p string) {
	if t != nil {
		t.phase.Store(&p)
	}
}

// Sending records that the contents stream starts, total bytes of it.
func (t *Transfer) Sending(total int64) {
	if t == nil {
		return
	}
	t.total.Store(total)
	t.SetPhase(PhaseSending)
}

// Sent adds n content bytes that left the root.
func (t *Transfer) Sent(n int64) {
	if t != nil {
		t.sent.Add(n)
	}
}

// HostDone counts a host whose relay reported how it ended.
func (t *Transfer) HostDone() {
	if t != nil {
		t.done.Add(1)
	}
}

// Status is t now; the zero TransferStatus for a nil t.
func (t *Transfer) Status() TransferStatus {
	if t == nil {
		return TransferStatus{}
	}
	s := TransferStatus{Hosts: int(t.hosts.Load()), Done: int(t.done.Load()), Total: t.total.Load(), Sent: t.sent.Load()}
	if p := t.phase.Load(); p != nil {
		s.Phase = *p
	}
	return s
}
