package core

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grifork/grifork/internal/number"
	"github.com/grifork/grifork/nodeset"
)

// Status is the outcome of one node in a run.
type Status string

const (
	StatusPending Status = "pending"
	StatusOK      Status = "ok"
	StatusFailed  Status = "failed"
	StatusSkipped Status = "skipped"
)

// Result is what happened to one node (a host of the host list; the root is not one).
type Result struct {
	NodeID   string        `json:"node_id"`
	Host     string        `json:"host"`
	Level    int           `json:"level"`
	Status   Status        `json:"status"`
	Task     Block         `json:"task,omitempty"` // the block that ran (or failed) for this node
	Via      string        `json:"via,omitempty"`  // the source host of that task (not the parent when re-attached)
	Start    time.Time     `json:"start,omitzero"`
	Duration time.Duration `json:"duration,omitempty"`
	Err      string        `json:"error,omitempty"` // one line; for skipped nodes the reason ("parent X failed")
	// Broadcast is the host's part in the broadcast { }, when there is one.
	Broadcast *BroadcastResult `json:"broadcast,omitempty"`
	// ExitStatus is that of the failed command behind Err, when it exited with one.
	ExitStatus int `json:"exit_status,omitempty"`
}

// ExitStatus is the exit status of the failed command behind err (an error with
// a method ExitCode() int, as the transport's command errors have), 0 when it has
// none.
func ExitStatus(err error) int {
	var e interface{ ExitCode() int }
	if errors.As(err, &e) {
		return max(e.ExitCode(), 0)
	}
	return 0
}

// RunError is a failure that belongs to no host of the list: prepare or finish on
// the root, or (grifork mode) prepare_remote/finish_remote on a node.
type RunError struct {
	Task Block  `json:"task"`
	Host string `json:"host"` // where the task ran
	Err  string `json:"error"`
}

// Report is the outcome of a run, one Result per host in tree order (breadth-first
// by order of addition). It is safe for concurrent use while the run updates it.
type Report struct {
	Mode     Mode
	Start    time.Time
	Duration time.Duration
	// Heal says the run re-attached hosts (--heal): only then does the summary
	// list the hosts served by another source than their parent. Without it a
	// host whose parent the broadcast missed still runs its block from a host
	// that has the data, which is no healing the user asked for.
	Heal bool

	mu      sync.Mutex
	results []Result
	// A report of a tree finds a result by the path its node id spells
	// ("<parent id>-<level>.<number>"), without hashing it: a grifork-mode dry
	// run of 100,000 hosts keeps a report per level, and their maps by id
	// were a fifth of its time. first[i] is the slot of the first child of
	// results[i]'s node (-1: none), rootFirst that of the tree root's; a
	// node's children are contiguous in tree order.
	rootID    string
	rootFirst int32
	first     []int32
	byID      map[string]int // the results the path does not find (a decoded report, a node outside the tree); nil while none
	errs      []RunError
	bcast     map[string]BroadcastResult // by host
	pending   int                        // results with StatusPending
}

// NewReport returns a report with one pending Result per host of t, in tree order.
func NewReport(mode Mode, t *Tree) *Report {
	hosts := t.size() - 1
	r := &Report{Mode: mode, Start: time.Now(), results: make([]Result, 0, hosts), pending: hosts,
		rootID: t.Root.ID, rootFirst: -1, first: make([]int32, 0, hosts)}
	if len(t.Root.Children) > 0 {
		r.rootFirst = 0
	}
	next := int32(len(t.Root.Children)) // the slot of the next node's first child, breadth-first
	walkBelow(t.Root, func(n *Node) {
		f := int32(-1)
		if len(n.Children) > 0 {
			f, next = next, next+int32(len(n.Children))
		}
		r.first = append(r.first, f)
		r.results = append(r.results, Result{NodeID: n.ID, Host: n.Name(), Level: n.Level, Status: StatusPending})
	})
	return r
}

// lookup is the slot of node id's result; r.mu is held.
func (r *Report) lookup(id string) (int, bool) {
	if i, ok := r.walk(id); ok {
		return i, true
	}
	i, ok := r.byID[id]
	return i, ok
}

// walk follows id's path from the root's id down the first-child slots; the
// slot it ends on holds id's result, or id is not found this way.
func (r *Report) walk(id string) (int, bool) {
	rest, ok := strings.CutPrefix(id, r.rootID)
	if !ok || rest == "" || r.first == nil {
		return 0, false
	}
	i, f := -1, r.rootFirst
	for rest != "" {
		// "-<level>.<number>": the number is the position among the children.
		if rest[0] != '-' {
			return 0, false
		}
		end := strings.IndexByte(rest[1:], '-') + 1
		if end == 0 {
			end = len(rest)
		}
		_, num, ok := strings.Cut(rest[1:end], ".")
		rest = rest[end:]
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || f < 0 || int(f)+n >= len(r.first) {
			return 0, false
		}
		i = int(f) + n
		f = r.first[i]
	}
	return i, r.results[i].NodeID == id
}

// Set records res for its node (res.NodeID), replacing what was there.
func (r *Report) Set(res Result) { r.set(res) }

// set is Set; it reports whether res settled a node that was pending.
func (r *Report) set(res Result) (settled bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var was Status // none: a node the report did not have
	if i, ok := r.lookup(res.NodeID); ok {
		was = r.results[i].Status
		r.results[i] = res
	} else {
		if r.byID == nil {
			r.byID = map[string]int{}
		}
		r.byID[res.NodeID] = len(r.results)
		r.results = append(r.results, res)
		if r.first != nil {
			r.first = append(r.first, -1)
		}
	}
	if was == StatusPending {
		r.pending--
	}
	if res.Status == StatusPending {
		r.pending++
	}
	return was == StatusPending && res.Status != StatusPending
}

// update replaces the result of node id with next's, under one lock and one
// lookup (a grifork-mode node does it for every result of its subtree), unless
// next keeps prev. found is false for a node the report does not have, which
// it leaves alone; settled is set's.
func (r *Report) update(id string, next func(prev Result) (res Result, replace bool)) (found, replaced, settled bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.lookup(id)
	if !ok {
		return false, false, false
	}
	was := r.results[i].Status
	res, replace := next(r.results[i])
	if !replace {
		return true, false, false
	}
	r.results[i] = res
	if was == StatusPending {
		r.pending--
	}
	if res.Status == StatusPending {
		r.pending++
	}
	return true, true, was == StatusPending && res.Status != StatusPending
}

// pendingCount is how many results are still pending: sweeps over the tree for
// them are skipped when there are none.
func (r *Report) pendingCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending
}

// Get returns the result of the node with id.
func (r *Report) Get(id string) (Result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.lookup(id)
	if !ok {
		return Result{}, false
	}
	return r.results[i], true
}

// Results returns a copy of all results in tree order.
func (r *Report) Results() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Result(nil), r.results...)
	if r.bcast != nil {
		for i := range out {
			if b, ok := r.bcast[out[i].Host]; ok {
				out[i].Broadcast = &b
			}
		}
	}
	return out
}

// SetBroadcast records host's broadcast result; Results carries it.
func (r *Report) SetBroadcast(host string, res BroadcastResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bcast == nil {
		r.bcast = map[string]BroadcastResult{}
	}
	r.bcast[host] = res
}

// Count returns how many results have status s.
func (r *Report) Count(s Status) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i := range r.results {
		if r.results[i].Status == s {
			n++
		}
	}
	return n
}

// OK reports whether every host succeeded and no run-level task failed.
func (r *Report) OK() bool {
	ok := r.Count(StatusOK)
	r.mu.Lock()
	defer r.mu.Unlock()
	return ok == len(r.results) && len(r.errs) == 0
}

// AddRunError records that task failed on host outside of any host's result.
func (r *Report) AddRunError(task Block, host string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, RunError{Task: task, Host: host, Err: OneLine(err.Error())})
}

// RunErrors returns a copy of the run-level errors in the order they happened.
func (r *Report) RunErrors() []RunError {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RunError(nil), r.errs...)
}

// Reason is what a report shows of a task's error. The report already names the
// task and the host, so an error that can say its reason apart from where it
// happened (a method Reason() string, as the Griforkfile's task errors have)
// shows only that.
func Reason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return err.Error()
}

// OneLine makes s fit on one line of a summary or log: its non-blank lines,
// trimmed, joined with "; ".
func OneLine(s string) string {
	var parts []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

type reportJSON struct {
	Mode      Mode          `json:"mode"`
	Start     time.Time     `json:"start"`
	Duration  time.Duration `json:"duration"`
	Totals    Totals        `json:"totals"`
	Results   []Result      `json:"results"`
	RunErrors []RunError    `json:"run_errors,omitempty"`
}

// Totals counts a report's hosts by status (decoding ignores them: the results
// are the truth).
type Totals struct {
	Hosts   int `json:"hosts"`
	OK      int `json:"ok"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	Pending int `json:"pending"`
}

// MarshalJSON encodes the report with its totals, results and run errors
// (durations in nanoseconds), for grifork mode's events and for tools (--report).
func (r *Report) MarshalJSON() ([]byte, error) {
	t, _ := r.Progress()
	return json.Marshal(reportJSON{Mode: r.Mode, Start: r.Start, Duration: r.Duration, Totals: t, Results: r.Results(), RunErrors: r.RunErrors()})
}

// Retry returns the hosts to run again: those that failed or were skipped (or
// never ran), in the report's order.
func (r *Report) Retry() ([]Host, error) {
	var hosts []Host
	for _, x := range r.Results() {
		if x.Status == StatusOK {
			continue
		}
		h, err := ParseHost(x.Host)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", x.NodeID, err)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// UnmarshalJSON decodes what MarshalJSON wrote, replacing r's contents.
func (r *Report) UnmarshalJSON(b []byte) error {
	var rj reportJSON
	if err := json.Unmarshal(b, &rj); err != nil {
		return fmt.Errorf("decode report: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Mode, r.Start, r.Duration = rj.Mode, rj.Start, rj.Duration
	r.results, r.errs, r.byID, r.first, r.rootID = nil, rj.RunErrors, map[string]int{}, nil, ""
	for _, res := range rj.Results {
		if _, dup := r.byID[res.NodeID]; dup || res.NodeID == "" {
			return fmt.Errorf("decode report: missing or duplicate node id %q", res.NodeID)
		}
		r.byID[res.NodeID] = len(r.results)
		r.results = append(r.results, res)
	}
	return nil
}

// WriteSummary writes what a user reads at the end of a run: the counts, one line
// per failed host with its task and error, one per host re-attached to another
// source (with Heal), one per cause of skipped hosts with their count and
// folded node set,
// the run-level errors and the total time.
func (r *Report) WriteSummary(w io.Writer) error {
	res := r.Results()
	count := map[Status]int{}
	for _, x := range res {
		count[x.Status]++
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, r.Headline())

	if count[StatusFailed] > 0 {
		fmt.Fprintln(bw, "failed:")
		for _, x := range res {
			if x.Status == StatusFailed {
				fmt.Fprintf(bw, "  %s (%s) %s: %s\n", x.Host, x.NodeID, x.Task, x.Err)
			}
		}
	}
	hostOf := make(map[string]string, len(res))
	for _, x := range res {
		hostOf[x.NodeID] = x.Host
	}
	heading := false
	for _, x := range res {
		if p := parentHost(hostOf, x.NodeID); r.Heal && x.Via != "" && x.Via != p {
			if !heading {
				fmt.Fprintln(bw, "re-attached:")
				heading = true
			}
			fmt.Fprintf(bw, "  %s to %s (parent %s failed)\n", x.Host, x.Via, p)
		}
	}
	// One line per cause, however many hosts it skipped: a failure near the root
	// of 100,000 hosts stays one line (each host is in the log and the report).
	var reasons []string
	byReason := map[string][]string{}
	for _, x := range res {
		if x.Status != StatusSkipped {
			continue
		}
		if _, ok := byReason[x.Err]; !ok {
			reasons = append(reasons, x.Err)
		}
		byReason[x.Err] = append(byReason[x.Err], x.Host)
	}
	for _, why := range reasons {
		hosts := byReason[why]
		cause := " (" + why + ")"
		if p, ok := strings.CutPrefix(why, "parent "); ok && strings.HasSuffix(p, " failed") {
			cause = " under " + strings.TrimSuffix(p, " failed") + " (parent failed)"
		}
		fmt.Fprintf(bw, "skipped %s %s%s: %s\n", number.Thousands(len(hosts)), plural(len(hosts), "host", "hosts"), cause, nodeset.Fold(hosts))
	}
	if errs := r.RunErrors(); len(errs) > 0 {
		fmt.Fprintln(bw, "errors:")
		for _, e := range errs {
			fmt.Fprintf(bw, "  %s on %s: %s\n", e.Task, e.Host, e.Err)
		}
	}
	return bw.Flush()
}

// parentHost is the host of the tree parent of the node with id, found from the
// id's form ("<parent id>-<level>.<number>"); the root when hostOf lacks it.
func parentHost(hostOf map[string]string, id string) string {
	if i := strings.LastIndex(id, "-"); i >= 0 {
		if h, ok := hostOf[id[:i]]; ok {
			return h
		}
	}
	return RootHost
}

// Headline is the first line of the summary: the counts of hosts by status, of
// run-level errors, and the total time.
func (r *Report) Headline() string {
	res := r.Results()
	count := map[Status]int{}
	for _, x := range res {
		count[x.Status]++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s run: %d %s: %d ok, %d failed, %d skipped", r.Mode, len(res), plural(len(res), "host", "hosts"),
		count[StatusOK], count[StatusFailed], count[StatusSkipped])
	if n := count[StatusPending]; n > 0 {
		fmt.Fprintf(&b, ", %d pending", n)
	}
	if n := len(r.RunErrors()); n > 0 {
		fmt.Fprintf(&b, ", %d %s", n, plural(n, "task error", "task errors"))
	}
	fmt.Fprintf(&b, " in %s", roundDuration(r.Duration))
	return b.String()
}

// roundDuration keeps a summary's times readable: milliseconds below a minute,
// seconds above.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}
