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
	Task     Block  // the block that ran (or failed) for this node
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
