package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"
)

// BlockBroadcast names, in results and run errors, the pipelined broadcast of
// the broadcast { } directive.
const BlockBroadcast Block = "broadcast"

// BroadcastConfig is the broadcast { } directive: From (a directory, whose
// contents land in the directory To, or a file, which lands at To) streamed
// down a tree of its own, built from the run's hosts with Branches children per
// node. Delete removes what is under To but not in From (except what Excludes
// matches); Excludes are patterns relative to From. Checksum compares every
// file a host holds by content, not only by size and mtime.
type BroadcastConfig struct {
	From     string
	To       string
	Delete   *bool // default true (Deletes)
	Excludes []string
	Branches int
	Checksum bool
	// Direct streams relay to relay over TLS on a port each relay opens for
	// the run, the SSH forward being the fallback; false: the SSH forward only,
	// for sites that allow no extra listening port. Default true (Directs).
	Direct *bool
}

// BroadcastResult is one host's part in the broadcast.
type BroadcastResult struct {
	Status   Status        `json:"status"`
	Via      string        `json:"via,omitempty"`          // the host (or localhost) it received the stream from
	Received int64         `json:"received"`               // stream bytes received (the manifest and every file some host of the broadcast lacks)
	Written  int64         `json:"written"`                // content bytes written to its disk
	Kind     string        `json:"kind,omitempty"`         // full (it held nothing), update, or current (nothing to do)
	Duration time.Duration `json:"duration"`               // from its relay's start to its result
	PeakRSS  int64         `json:"peak_rss_kib,omitempty"` // its relay's peak resident memory
	Stream   string        `json:"stream,omitempty"`       // what its stream came over: direct (TLS from its parent) or ssh (its parent's SSH forward)
	Err      string        `json:"error,omitempty"`
}

// Broadcaster runs a broadcast along its own tree t (t.Root is this machine)
// and returns every host's result by host name (Node.Name). An error means
// nothing was sent (a source that cannot be read or holds a device file, say).
// Cancelling ctx stops every relay.
type Broadcaster interface {
	Broadcast(ctx context.Context, t *Tree) (map[string]BroadcastResult, error)
}

// BroadcastError fails a host's edge task because its broadcast failed: the
// block is not run, and the result names the broadcast as the failed task.
type BroadcastError struct{ Err string }

func (e *BroadcastError) Error() string  { return "broadcast: " + e.Err }
func (e *BroadcastError) Reason() string { return e.Err }

// taskOf is the task a result names for an edge e that ended with err.
func taskOf(e Edge, err error) Block {
	if err == nil {
		return e.Block // and no be to allocate, for each of 100,000 edges
	}
	var be *BroadcastError
	if errors.As(err, &be) {
		return BlockBroadcast
	}
	return e.Block
}

// WithBroadcast returns tasks that run the broadcast along bt right after
// prepare (a broadcast that cannot start fails like prepare: every host is
// skipped), then fail, without running its block, the edge to every host
// whose broadcast did not succeed. The results reach the report handed to
// finish (Result.Broadcast); Attach adds them to a report finish did not get.
// b nil plans: every host counts as broadcast.
func WithBroadcast(tasks Tasks, b Broadcaster, bt *Tree) *BroadcastTasks {
	return &BroadcastTasks{Tasks: tasks, b: b, bt: bt}
}

// BroadcastTasks is the Tasks of WithBroadcast.
type BroadcastTasks struct {
	Tasks
	b  Broadcaster
	bt *Tree

	mu      sync.Mutex
	results map[string]BroadcastResult
}

// Tree is the broadcast's own tree.
func (t *BroadcastTasks) Tree() *Tree { return t.bt }

// Defined counts prepare as defined: the broadcast runs as its last step.
func (t *BroadcastTasks) Defined(b Block) bool {
	return b == BlockPrepare || t.Tasks.Defined(b)
}

func (t *BroadcastTasks) Run(ctx context.Context, e Edge) error {
	switch e.Block {
	case BlockPrepare:
		if err := t.Tasks.Run(ctx, e); err != nil {
			return err
		}
		return t.broadcast(ctx)
	case BlockLocally, BlockRemote:
		if r, ok := t.Failed(e.Dst.Name()); ok {
			return &BroadcastError{Err: r}
		}
	}
	return t.Tasks.Run(ctx, e)
}

func (t *BroadcastTasks) broadcast(ctx context.Context) error {
	res := map[string]BroadcastResult{}
	if t.b != nil {
		var err error
		if res, err = t.b.Broadcast(ctx, t.bt); err != nil {
			return &BroadcastError{Err: err.Error()}
		}
	}
	t.mu.Lock()
	t.results = res
	t.mu.Unlock()
	return nil
}

// Failed reports whether host's broadcast did not succeed, and why.
func (t *BroadcastTasks) Failed(host string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.results == nil || t.b == nil {
		return "", false
	}
	r, ok := t.results[host]
	switch {
	case !ok:
		return "no broadcast result", true
	case r.Status != StatusOK:
		return r.Err, true
	}
	return "", false
}

// Interrupter is Tasks that do part of a host's work before its edge task
// (the broadcast does it for all hosts at once, during prepare): when the run
// stops before the edge of n started, Interrupted is n's result from that part,
// false when it has none to give and n is skipped as cancelled.
type Interrupter interface {
	Interrupted(n *Node) (Result, bool)
}

// Interrupted follows the rule of a stopped run (a running task failed, a task
// not started skipped): a host whose broadcast failed or was cut short is
// failed with its broadcast's error, one whose broadcast committed is ok when
// it has no edge block to run (copy), else skipped as cancelled, since its
// block did not run.
func (t *BroadcastTasks) Interrupted(n *Node) (Result, bool) {
	t.mu.Lock()
	r, ok := t.results[n.Name()]
	t.mu.Unlock()
	if !ok || t.b == nil {
		return Result{}, false
	}
	if r.Status == StatusOK && t.Tasks.Defined(edgeBlock(n)) {
		return Result{}, false
	}
	return Result{NodeID: n.ID, Host: n.Name(), Level: n.Level, Task: BlockBroadcast, Status: r.Status, Err: r.Err, Duration: r.Duration}, true
}

var _ Interrupter = (*BroadcastTasks)(nil)

// FailedHosts is every host whose broadcast did not succeed, with the reason.
func (t *BroadcastTasks) FailedHosts() map[string]string {
	out := map[string]string{}
	t.bt.Walk(func(n *Node) {
		if n.IsRoot() {
			return
		}
		if r, ok := t.Failed(n.Name()); ok {
			out[n.Name()] = r
		}
	})
	return out
}

func (t *BroadcastTasks) Finish(ctx context.Context, r *Report) error {
	t.Attach(r)
	return t.Tasks.Finish(ctx, r)
}

// Attach records the broadcast's results in r.
func (t *BroadcastTasks) Attach(r *Report) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for h, res := range t.results {
		r.SetBroadcast(h, res)
	}
}

// Precluded is Tasks for a grifork-mode node below the root: the root ran the
// broadcast; failed maps the hosts whose broadcast did not succeed to the
// reason, and their edges fail as with WithBroadcast.
func Precluded(tasks Tasks, failed map[string]string) Tasks {
	if len(failed) == 0 {
		return tasks
	}
	return &precluded{Tasks: tasks, failed: failed}
}

type precluded struct {
	Tasks
	failed map[string]string
}

// FailedHosts is the hosts whose broadcast failed, as BroadcastTasks' is.
func (p *precluded) FailedHosts() map[string]string { return p.failed }

func (p *precluded) Run(ctx context.Context, e Edge) error {
	if e.Dst != nil && (e.Block == BlockLocally || e.Block == BlockRemote) {
		if r, ok := p.failed[e.Dst.Name()]; ok {
			return &BroadcastError{Err: r}
		}
	}
	return p.Tasks.Run(ctx, e)
}

// WriteBroadcastPlan prints, for -n, what the broadcast would do: the paths and
// options, what it sends (source says how much the source holds), and which
// node relays to which along bt. file says From is one file, which goes into
// To where a host holds a directory there.
func WriteBroadcastPlan(w io.Writer, cfg *BroadcastConfig, bt *Tree, relay string, file bool, source string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "broadcast %s -> %s (branches %d, delete %v", cfg.From, cfg.To, bt.Branches, cfg.Deletes())
	if file {
		fmt.Fprintf(&b, ", a file: into %s where a host holds a directory there", strings.TrimSuffix(cfg.To, "/")+"/"+path.Base(cfg.From))
	}
	if len(cfg.Excludes) > 0 {
		fmt.Fprintf(&b, ", excludes %s", strings.Join(cfg.Excludes, " "))
	}
	b.WriteString("), after prepare, before any edge block:\n")
	by := "size and mtime, content where they cannot tell"
	if cfg.Checksum {
		by = "content: checksum"
	}
	fmt.Fprintf(&b, "  sends the source's manifest (%s); every host compares it with what it holds (%s), and the stream carries only the files some host lacks or holds differently: all of them for a host that holds nothing", source, by)
	if cfg.Deletes() && !file {
		b.WriteString("; each host removes what the source lacks")
	}
	b.WriteString("; which files an update sends, only the hosts can tell: -n contacts none\n")
	fmt.Fprintf(&b, "  relay on every host: %s\n", relay)
	if cfg.Directs() {
		b.WriteString("  streams: each parent dials its children directly, TLS 1.3 with the run's own certificate (each relay listens on a TCP port until its stream arrives), or else through its SSH connection to them\n")
	} else {
		b.WriteString("  streams: through each parent's SSH connection to its children (direct = false: no relay listens on a TCP port)\n")
	}
	bt.Walk(func(n *Node) {
		if len(n.Children) == 0 {
			return
		}
		names := make([]string, len(n.Children))
		for i, c := range n.Children {
			names[i] = c.Name()
		}
		fmt.Fprintf(&b, "  %s -> %s\n", n.Name(), strings.Join(names, ", "))
	})
	_, err := io.WriteString(w, b.String())
	return err
}
