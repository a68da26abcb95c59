package core

import (
	"sync"
	"time"
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
	NodeID   string
	Host     string
	Level    int
	Status   Status
	Task     Block // the block that ran (or failed) for this node
	Start    time.Time
	Duration time.Duration
	Err      string // one line; for skipped nodes the reason ("parent X failed")
}

// Report is the outcome of a run, one Result per host in tree order (breadth-first
// by order of addition). It is safe for concurrent use while the run updates it.
type Report struct {
	Mode     Mode
	Start    time.Time
	Duration time.Duration

	mu      sync.Mutex
	results []Result
	byID    map[string]int
}

// NewReport returns a report with one pending Result per host of t, in tree order.
func NewReport(mode Mode, t *Tree) *Report {
	r := &Report{Mode: mode, Start: time.Now(), byID: map[string]int{}}
	t.Walk(func(n *Node) {
		if n.IsRoot() {
			return
		}
		r.byID[n.ID] = len(r.results)
		r.results = append(r.results, Result{NodeID: n.ID, Host: n.Name(), Level: n.Level, Status: StatusPending})
	})
	return r
}

// Set records res for its node (res.NodeID), replacing what was there.
func (r *Report) Set(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.byID[res.NodeID]; ok {
		r.results[i] = res
		return
	}
	r.byID[res.NodeID] = len(r.results)
	r.results = append(r.results, res)
}

// Get returns the result of the node with id.
func (r *Report) Get(id string) (Result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.byID[id]
	if !ok {
		return Result{}, false
	}
	return r.results[i], true
}

// Results returns a copy of all results in tree order.
func (r *Report) Results() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Result(nil), r.results...)
}

// Count returns how many results have status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, res := range r.Results() {
		if res.Status == s {
			n++
		}
	}
	return n
}

// OK reports whether every host succeeded.
func (r *Report) OK() bool {
	return r.Count(StatusOK) == len(r.Results())
}
