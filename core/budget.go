package core

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// FailureBudget is max_failures: how many hosts may fail before the run stops
// starting tasks. Max counts hosts, or with Percent is a share of all the run's
// hosts (as Ansible's max_fail_percentage). The zero value is no budget.
type FailureBudget struct {
	Set     bool
	Max     int
	Percent bool
}

// ParseFailureBudget reads "N" (hosts) or "P%" (a whole percentage of all hosts).
func ParseFailureBudget(s string) (FailureBudget, error) {
	t := strings.TrimSpace(s)
	num, pct := strings.CutSuffix(t, "%")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	b := FailureBudget{Set: true, Max: n, Percent: pct}
	if err != nil {
		return FailureBudget{}, fmt.Errorf("max_failures must be a number of hosts >= 0 or a percentage such as \"10%%\", got %q", s)
	}
	return b, b.Validate()
}

// Validate checks the budget's range (an unset one is fine).
func (b FailureBudget) Validate() error {
	switch {
	case !b.Set:
	case b.Percent && (b.Max < 0 || b.Max > 100):
		return fmt.Errorf("max_failures must be a percentage from 0%% to 100%%, got %d%%", b.Max)
	case b.Max < 0:
		return fmt.Errorf("max_failures must be a number of hosts >= 0, got %d", b.Max)
	}
	return nil
}

// String is the budget as a user writes it ("2", "10%"); "" when unset.
func (b FailureBudget) String() string {
	switch {
	case !b.Set:
		return ""
	case b.Percent:
		return strconv.Itoa(b.Max) + "%"
	}
	return strconv.Itoa(b.Max)
}

// Allowed is how many of hosts may fail without stopping the run; -1 without a
// budget. A percentage stops the run once the failed share exceeds it: with P%
// of H hosts, failed > P*H/100, so floor(P*H/100) may fail.
func (b FailureBudget) Allowed(hosts int) int {
	switch {
	case !b.Set:
		return -1
	case b.Percent:
		return b.Max * hosts / 100
	}
	return b.Max
}

// Describe is the budget for a plan's header, for a run of hosts: "max_failures
// 10% of 30 hosts: no new task starts once 4 hosts have failed"; "" when unset.
func (b FailureBudget) Describe(hosts int) string {
	if !b.Set {
		return ""
	}
	s := "max_failures " + b.String()
	if b.Percent {
		s += fmt.Sprintf(" of %d %s", hosts, plural(hosts, "host", "hosts"))
	}
	n := b.Allowed(hosts) + 1
	if n > hosts {
		return s + ": never reached"
	}
	return s + fmt.Sprintf(": no new task starts once %d %s failed", n, plural(n, "host has", "hosts have"))
}

// Halt is a run's stop of new tasks: once fired, no task starts, and tasks
// already running end normally. The root fires it when the failure budget is
// spent; in grifork mode each node's comes from its parent (the fork's input),
// and a node hands its own on to its forks through their ctx (WithHalt). Safe
// for concurrent use; a nil *Halt never fires.
type Halt struct {
	once   sync.Once
	done   chan struct{}
	reason string // set before done is closed, read after
}

// NewHalt returns a Halt not yet fired.
func NewHalt() *Halt { return &Halt{done: make(chan struct{})} }

// Fire stops new tasks with reason (what the hosts that never started are
// skipped with); only the first call counts.
func (h *Halt) Fire(reason string) {
	h.once.Do(func() {
		h.reason = reason
		close(h.done)
	})
}

// Done is closed once h has fired; nil (never ready) for a nil h.
func (h *Halt) Done() <-chan struct{} {
	if h == nil {
		return nil
	}
	return h.done
}

// Reason is the reason h fired with; ok is false while it has not.
func (h *Halt) Reason() (reason string, ok bool) {
	if h == nil {
		return "", false
	}
	select {
	case <-h.done:
		return h.reason, true
	default:
		return "", false
	}
}

type haltKey struct{}

// WithHalt returns ctx carrying h: a Forker hands it on to the remote grifork
// (see Forker), without cancelling anything.
func WithHalt(ctx context.Context, h *Halt) context.Context {
	return context.WithValue(ctx, haltKey{}, h)
}

// HaltFrom is the Halt ctx carries; nil (never fires) when none.
func HaltFrom(ctx context.Context) *Halt {
	h, _ := ctx.Value(haltKey{}).(*Halt)
	return h
}

// budget counts a run's failed hosts against its FailureBudget and fires halt
// when they exceed it. Safe for concurrent use.
type budget struct {
	allowed int // -1: none
	spec    string
	halt    *Halt
	log     *slog.Logger

	mu     sync.Mutex
	failed map[string]struct{} // host names: a host counts once, whatever failed
	fired  bool
}

func newBudget(b FailureBudget, hosts int, halt *Halt, log *slog.Logger) *budget {
	bg := &budget{allowed: b.Allowed(hosts), spec: b.String(), halt: halt, log: log}
	if bg.allowed >= 0 { // else fail counts nothing (a dry run has a level per node with children)
		bg.failed = map[string]struct{}{}
	}
	return bg
}

// failPre counts the hosts that tasks know failed before any edge (see
// preFailer), as both schedulers do once prepare is done, and returns them by
// host with the reason; spent reports whether they spent the budget.
func (b *budget) failPre(tasks Tasks) (pre map[string]string, spent bool) {
	p, ok := tasks.(preFailer)
	if !ok {
		return nil, false
	}
	pre = p.FailedHosts()
	for h := range pre {
		if b.fail(h) {
			spent = true
		}
	}
	return pre, spent
}

// logSpent logs that the budget was spent, when fail or failPre said so: the
// hosts left are settled by the scheduler.
func (b *budget) logSpent() {
	why, _ := b.halt.Reason()
	b.log.Error("failure budget spent: no new task starts", "reason", why)
}

// fail counts host as failed; it reports whether that spent the budget (halt
// fired now).
func (b *budget) fail(host string) bool {
	if b.allowed < 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failed[host] = struct{}{}
	if n := len(b.failed); n > b.allowed && !b.fired {
		b.fired = true
		b.halt.Fire(StoppedReason(n, b.spec))
		return true
	}
	return false
}

// StoppedReason is why a host never started once n failed hosts spent the
// budget spec: one cause, the same on every node, for the summary's line.
func StoppedReason(n int, spec string) string {
	return fmt.Sprintf("not started: the run stopped after %d failed %s (max_failures %s)", n, plural(n, "host", "hosts"), spec)
}

// preFailer is Tasks that know hosts that failed before any edge ran (the
// broadcast's, see BroadcastTasks.FailedHosts): they count against the budget
// as soon as prepare is done.
type preFailer interface {
	FailedHosts() map[string]string
}
