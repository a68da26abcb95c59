package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grifork/grifork/core/output"
)

func TestFailureBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		err      string
		str      string
		hosts    int
		allowed  int
		describe string
	}{
		{in: "0", str: "0", hosts: 13, allowed: 0, describe: "max_failures 0: no new task starts once 1 host has failed"},
		{in: "2", str: "2", hosts: 13, allowed: 2, describe: "max_failures 2: no new task starts once 3 hosts have failed"},
		{in: " 5 % ", str: "5%", hosts: 13, allowed: 0, describe: "max_failures 5% of 13 hosts: no new task starts once 1 host has failed"},
		{in: "10%", str: "10%", hosts: 30, allowed: 3, describe: "max_failures 10% of 30 hosts: no new task starts once 4 hosts have failed"},
		// 30% of 13 is 3.9: a fourth failed host is 30.8%, over the budget.
		{in: "30%", str: "30%", hosts: 13, allowed: 3, describe: "max_failures 30% of 13 hosts: no new task starts once 4 hosts have failed"},
		{in: "100%", str: "100%", hosts: 13, allowed: 13, describe: "max_failures 100% of 13 hosts: never reached"},
		{in: "20", str: "20", hosts: 13, allowed: 20, describe: "max_failures 20: never reached"},
		{in: "-1", err: "max_failures must be a number of hosts >= 0, got -1"},
		{in: "101%", err: "max_failures must be a percentage from 0% to 100%, got 101%"},
		{in: "1.5", err: `max_failures must be a number of hosts >= 0 or a percentage such as "10%", got "1.5"`},
		{in: "%", err: `max_failures must be a number of hosts >= 0 or a percentage such as "10%", got "%"`},
		{in: "", err: `max_failures must be a number of hosts >= 0 or a percentage such as "10%", got ""`},
	}
	for _, tt := range tests {
		b, err := ParseFailureBudget(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseFailureBudget(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseFailureBudget(%q): %v", tt.in, err)
			continue
		}
		if b.String() != tt.str || b.Allowed(tt.hosts) != tt.allowed || b.Describe(tt.hosts) != tt.describe {
			t.Errorf("%q: String %q Allowed(%d) %d Describe %q, want %q %d %q", tt.in, b, tt.hosts, b.Allowed(tt.hosts), b.Describe(tt.hosts), tt.str, tt.allowed, tt.describe)
		}
	}
	var none FailureBudget
	if none.Allowed(10) != -1 || none.String() != "" || none.Describe(10) != "" || none.Validate() != nil {
		t.Errorf("the zero budget is not 'none': %d %q %q", none.Allowed(10), none, none.Describe(10))
	}
}

func mustBudget(t *testing.T, s string) FailureBudget {
	t.Helper()
	b, err := ParseFailureBudget(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// budgetWant is what a run with a budget must end with: the hosts by status
// (folded node sets of "webN"), the skip causes, and the edges that ran.
type budgetWant struct {
	ok, failed  []string
	parent      map[string][]string // failed host -> hosts skipped under it
	notStarted  []string
	reason      string
	edgesRan    []string // dst hosts whose edge task ran, sorted
	broadcasted []string // hosts failed as never started because their broadcast failed
}

func webs(ns ...int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = fmt.Sprintf("web%d", n)
	}
	return out
}

func span(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// checkBudget compares r with w, and that the skip causes reach the summary
// once each and --retry holds every host that is not ok.
func checkBudget(t *testing.T, r *Report, ran []string, w budgetWant) {
	t.Helper()
	var ok, failed, notStarted, broadcasted []string
	parent := map[string][]string{}
	for _, res := range r.Results() {
		switch {
		case res.Status == StatusOK:
			ok = append(ok, res.Host)
		case res.Status == StatusFailed && res.Task == BlockBroadcast && !slices.Contains(ran, res.Host):
			broadcasted = append(broadcasted, res.Host)
		case res.Status == StatusFailed:
			failed = append(failed, res.Host)
		case res.Status == StatusSkipped && res.Err == w.reason:
			notStarted = append(notStarted, res.Host)
		case res.Status == StatusSkipped && strings.HasPrefix(res.Err, "parent "):
			p := strings.TrimSuffix(strings.TrimPrefix(res.Err, "parent "), " failed")
			parent[p] = append(parent[p], res.Host)
		default:
			t.Errorf("%s: %s (%s)", res.Host, res.Status, res.Err)
		}
	}
	sortHosts := func(s []string) []string {
		slices.SortFunc(s, func(a, b string) int { return len(a) - len(b) + strings.Compare(a, b)*boolInt(len(a) == len(b)) })
		return s
	}
	eq := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(sortHosts(slices.Clone(got)), sortHosts(slices.Clone(want))) {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	eq("ok", ok, w.ok)
	eq("failed", failed, w.failed)
	eq("not started", notStarted, w.notStarted)
	eq("failed in the broadcast, never started", broadcasted, w.broadcasted)
	eq("edges that ran", ran, w.edgesRan)
	for p, hosts := range w.parent {
		eq("skipped under "+p, parent[p], hosts)
	}
	for p := range parent {
		if _, ok := w.parent[p]; !ok {
			t.Errorf("unexpected hosts skipped under %s: %v", p, parent[p])
		}
	}
	var sum strings.Builder
	if err := r.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(sum.String(), w.reason); len(w.notStarted) > 0 && n != 1 {
		t.Errorf("summary names the stop %d times, want once:\n%s", n, sum.String())
	}
	retry, err := r.Retry()
	if err != nil {
		t.Fatal(err)
	}
	if want := len(r.Results()) - len(ok); len(retry) != want {
		t.Errorf("retry holds %d hosts, want %d", len(retry), want)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// edgeDsts is the sorted destinations of the edge tasks in calls.
func edgeDsts(calls []taskCall) []string {
	var out []string
	for _, c := range calls {
		if c.dst != "" {
			out = append(out, c.dst)
		}
	}
	slices.Sort(out)
	return out
}

// TestStandaloneBudget: the tree is 13 hosts, branches 3: web1-3 in generation
// 1, web4-12 in generation 2 (web4-6 under web1, web7-9 under web2, web10-12
// under web3), web13 under web4.
func TestStandaloneBudget(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	fails := func(hosts ...string) map[string]error {
		m := map[string]error{}
		for _, h := range hosts {
			m[h] = boom
		}
		return m
	}
	stop := func(n int, spec string) string { return StoppedReason(n, spec) }
	tests := []struct {
		name     string
		budget   string
		opts     RunOptions
		fail     map[string]error
		delay    map[string]time.Duration
		bcast    map[string]string // hosts whose broadcast fails
		wait     string            // web2 and web3 wait for this host's task to end
		want     budgetWant
		noBlocks bool // the Griforkfile has only prepare and finish
	}{
		{
			// The canary: generation 1 runs whole, nothing below it starts.
			name: "budget 0 barrier", budget: "0", opts: RunOptions{Barrier: true},
			fail: fails("web2"), delay: map[string]time.Duration{"web1": 30 * time.Millisecond, "web3": 30 * time.Millisecond},
			want: budgetWant{ok: webs(1, 3), failed: webs(2), parent: map[string][]string{"web2": webs(7, 8, 9)},
				notStarted: webs(4, 5, 6, 10, 11, 12, 13), reason: stop(1, "0"), edgesRan: webs(1, 2, 3)},
		},
		{
			// One task at a time in tree order: the third failure (web6) stops
			// the run before web10.
			name: "budget 2 spread", budget: "2", opts: RunOptions{Barrier: true, Concurrency: 1},
			fail: fails("web2", "web5", "web6"),
			want: budgetWant{ok: webs(1, 3, 4), failed: webs(2, 5, 6), parent: map[string][]string{"web2": webs(7, 8, 9)},
				notStarted: webs(10, 11, 12, 13), reason: stop(3, "2"), edgesRan: webs(1, 2, 3, 4, 5, 6)},
		},
		{
			name: "budget 2 not spent", budget: "2", opts: RunOptions{Barrier: true, Concurrency: 1},
			fail: fails("web5", "web6"),
			want: budgetWant{ok: webs(1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13), failed: webs(5, 6),
				edgesRan: webs(span(1, 13)...), reason: "-"},
		},
		{
			// 10% of 13 hosts is 1.3: the second failed host is over it.
			name: "percentage", budget: "10%", opts: RunOptions{Barrier: true, Concurrency: 1},
			fail: fails("web5", "web6"),
			want: budgetWant{ok: webs(1, 2, 3, 4), failed: webs(5, 6),
				notStarted: webs(7, 8, 9, 10, 11, 12, 13), reason: stop(2, "10%"), edgesRan: webs(span(1, 6)...)},
		},
		{
			// Without the barrier, web2 and web3 are still running when web1
			// fails: they end ok, their children never start.
			name: "budget 0 no barrier", budget: "0", opts: RunOptions{},
			fail: fails("web1"), wait: "web1",
			want: budgetWant{ok: webs(2, 3), failed: webs(1), parent: map[string][]string{"web1": webs(4, 5, 6, 13)},
				notStarted: webs(7, 8, 9, 10, 11, 12), reason: stop(1, "0"), edgesRan: webs(1, 2, 3)},
		},
		{
			// Healing re-attaches nothing once the run has stopped.
			name: "budget 0 heal", budget: "0", opts: RunOptions{Barrier: true, Heal: true},
			fail: fails("web2"), delay: map[string]time.Duration{"web1": 30 * time.Millisecond, "web3": 30 * time.Millisecond},
			want: budgetWant{ok: webs(1, 3), failed: webs(2),
				notStarted: webs(span(4, 13)...), reason: stop(1, "0"), edgesRan: webs(1, 2, 3)},
		},
		{
			// Two hosts missed the broadcast, over a budget of 1: the run stops
			// after prepare; they are failed, every other host never starts.
			name: "broadcast over the budget", budget: "1", opts: RunOptions{Barrier: true},
			bcast: map[string]string{"web5": "SHA-256 mismatch", "web9": "lost"},
			want: budgetWant{broadcasted: webs(5, 9), notStarted: []string{"web1", "web2", "web3", "web4", "web6", "web7", "web8", "web10", "web11", "web12", "web13"},
				reason: stop(2, "1")},
		},
		{
			// They count: one more failure (web10) spends a budget of 2.
			name: "broadcast counts", budget: "2", opts: RunOptions{Barrier: true, Concurrency: 1},
			bcast: map[string]string{"web5": "SHA-256 mismatch", "web9": "lost"}, fail: fails("web10"),
			// web5 and web9 fail at their edge, without their block.
			want: budgetWant{ok: webs(1, 2, 3, 4, 6, 7, 8), failed: webs(5, 9, 10),
				notStarted: webs(11, 12, 13), reason: stop(3, "2"), edgesRan: webs(span(1, 10)...)},
		},
		{
			// copy: no block to run, so the hosts the broadcast reached are
			// ok, not "not started".
			name: "broadcast without blocks", budget: "1", opts: RunOptions{Barrier: true}, noBlocks: true,
			bcast: map[string]string{"web5": "SHA-256 mismatch", "web9": "lost"},
			want:  budgetWant{ok: []string{"web1", "web2", "web3", "web4", "web6", "web7", "web8", "web10", "web11", "web12", "web13"}, broadcasted: webs(5, 9), reason: stop(2, "1")},
		},
		{
			name: "no budget", opts: RunOptions{Barrier: true},
			fail: fails("web2"),
			want: budgetWant{ok: webs(1, 3, 4, 5, 6, 10, 11, 12, 13), failed: webs(2), parent: map[string][]string{"web2": webs(7, 8, 9)},
				edgesRan: webs(1, 2, 3, 4, 5, 6, 10, 11, 12, 13), reason: "-"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &schedFake{fail: tt.fail, delay: tt.delay}
			var report atomic.Pointer[Report]
			ctx := ObserveReports(context.Background(), report.Store)
			if tt.wait != "" {
				// Until the loop has tt.wait's result: it reads their
				// completions after it (50 ms of sleep after tt.wait's task
				// returned lost that race on a loaded machine).
				f.onRun = func(ctx context.Context, e Edge) {
					if e.Dst == nil || (e.Dst.Name() != "web2" && e.Dst.Name() != "web3") {
						return
					}
					for deadline := time.Now().Add(waitTimeout); !settled(report.Load(), []string{tt.wait}) && time.Now().Before(deadline); {
						time.Sleep(time.Millisecond)
					}
				}
			}
			var tasks Tasks = f
			if tt.noBlocks {
				tasks = noBlocks{f}
			}
			tr := mustTree(t, 13, 3)
			if tt.bcast != nil {
				tasks = WithBroadcast(tasks, &fakeBroadcaster{fail: tt.bcast}, tr)
			}
			if tt.budget != "" {
				tt.opts.Budget = mustBudget(t, tt.budget)
			}
			r := RunStandalone(ctx, tr, tasks, tt.opts)
			ran := edgeDsts(f.check(t))
			// A host the broadcast missed fails at its edge without running
			// its block; one whose edge never started has no start time.
			for _, res := range r.Results() {
				if res.Task == BlockBroadcast && res.Status == StatusFailed && !res.Start.IsZero() {
					ran = append(ran, res.Host)
				}
			}
			slices.Sort(ran)
			checkBudget(t, r, ran, tt.want)
		})
	}
}

// noBlocks is a Griforkfile with prepare and finish only (as copy's).
type noBlocks struct{ *schedFake }

func (noBlocks) Defined(b Block) bool { return b == BlockPrepare || b == BlockFinish }

// calls0 is a copy of the calls so far.
func (f *schedFake) calls0() []taskCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// TestGriforkBudget: grifork mode on the 13-host tree. web5 fails (on web1's
// grifork) at once; web2, web3 and web4's copies last until the halt reaches
// their node (300 ms of copy lost the race on a loaded machine): the root
// forks no grifork to web2 or web3, and web1's grifork (told by the root)
// none to web4.
func TestGriforkBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		budget    string
		fail      map[string]Block
		bcast     map[string]string
		untilHalt map[string]bool
		want      budgetWant
		forks     []string
	}{
		{
			name: "budget 0", budget: "0", fail: map[string]Block{"web5": BlockRemote},
			untilHalt: map[string]bool{"web2": true, "web3": true, "web4": true},
			want: budgetWant{ok: webs(1, 2, 3, 4, 6), failed: webs(5), notStarted: webs(7, 8, 9, 10, 11, 12, 13),
				reason: StoppedReason(1, "0"), edgesRan: webs(1, 2, 3, 4, 5, 6)},
			forks: []string{"localhost->web1"},
		},
		{
			name: "percentage not spent", budget: "10%", fail: map[string]Block{"web5": BlockRemote},
			want:  budgetWant{ok: webs(1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13), failed: webs(5), reason: "-", edgesRan: webs(span(1, 13)...)},
			forks: []string{"localhost->web1", "localhost->web2", "localhost->web3", "web1->web4"},
		},
		{
			name: "broadcast over the budget", budget: "1", bcast: map[string]string{"web5": "lost", "web13": "lost"},
			want: budgetWant{broadcasted: webs(5, 13), notStarted: webs(1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12),
				reason: StoppedReason(2, "1")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := mustTree(t, 13, 3)
			// web5 fails only once the other copies of its generation have started, however
			// late a loaded machine runs their goroutines.
			ft := &fakeTasks{fail: tt.fail, untilHalt: tt.untilHalt, after: map[string][]string{"web5": {"web2", "web3", "web4", "web6"}}, log: &callLog{}}
			root := ft.with(output.NewPrinter(&strings.Builder{}, nil))
			ff := &fakeForker{base: ft, forks: &callLog{}}
			var tasks Tasks = root
			if tt.bcast != nil {
				tasks = WithBroadcast(root, &fakeBroadcaster{fail: tt.bcast}, tr)
			}
			r := RunGrifork(context.Background(), tr, tasks, ff, GriforkOptions{Budget: mustBudget(t, tt.budget)})
			var ran []string
			for _, c := range ft.log.sorted() {
				if _, dst, ok := strings.Cut(c, "->"); ok {
					ran = append(ran, dst)
				}
			}
			slices.Sort(ran)
			checkBudget(t, r, ran, tt.want)
			if got := ff.forks.sorted(); !slices.Equal(got, tt.forks) {
				t.Errorf("forks %v, want %v", got, tt.forks)
			}
			if root.report != r {
				t.Error("finish did not get the report")
			}
		})
	}
}
