package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHealAdopters runs one task at a time, so each adopter choice is determined:
// the fewest attached children, then the shallowest, then tree order; the root
// only when no host has the data yet.
func TestHealAdopters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		hosts    int
		barrier  bool
		fail     []string
		calls    string
		statuses string
		summary  []string
	}{
		{
			// Generation 2 opens with web1 and web3 ok, 3 children each: web7 to
			// web1 (tree order), web8 to web3 (fewer), web9 to web1 (tree order).
			name: "barrier spreads", hosts: 13, barrier: true, fail: []string{"web2"},
			calls: "prepare(localhost) locally(localhost,web1) locally(localhost,web2) locally(localhost,web3) " +
				"remote(web1,web4) remote(web1,web5) remote(web1,web6) remote(web1,web7) remote(web3,web8) remote(web1,web9) " +
				"remote(web3,web10) remote(web3,web11) remote(web3,web12) remote(web4,web13)",
			statuses: "web1=ok web2=failed(boom web2) web3=ok web4=ok web5=ok web6=ok web7=ok web8=ok web9=ok " +
				"web10=ok web11=ok web12=ok web13=ok",
			summary: []string{"  web7 to web1 (parent web2 failed)", "  web8 to web3 (parent web2 failed)",
				"  web9 to web1 (parent web2 failed)"},
		},
		{
			// Without the barrier the children are placed when web2 fails: only web1 has the data.
			name: "no barrier places at once", hosts: 13, fail: []string{"web2"},
			calls: "prepare(localhost) locally(localhost,web1) locally(localhost,web2) locally(localhost,web3) " +
				"remote(web1,web4) remote(web1,web5) remote(web1,web6) remote(web1,web7) remote(web1,web8) remote(web1,web9) " +
				"remote(web3,web10) remote(web3,web11) remote(web3,web12) remote(web4,web13)",
			statuses: "web1=ok web2=failed(boom web2) web3=ok web4=ok web5=ok web6=ok web7=ok web8=ok web9=ok " +
				"web10=ok web11=ok web12=ok web13=ok",
			summary: []string{"  web9 to web1 (parent web2 failed)"},
		},
		{
			// web1 fails before any host has the data: the root adopts web4 (locally).
			name: "root is the last resort", hosts: 4, fail: []string{"web1"},
			calls:    "prepare(localhost) locally(localhost,web1) locally(localhost,web2) locally(localhost,web3) locally(localhost,web4)",
			statuses: "web1=failed(boom web1) web2=ok web3=ok web4=ok",
			summary:  []string{"  web4 to localhost (parent web1 failed)"},
		},
		{
			// With the barrier web4 waits for generation 1: web2 and web3 have no children.
			name: "barrier prefers a leaf to the root", hosts: 4, barrier: true, fail: []string{"web1"},
			calls:    "prepare(localhost) locally(localhost,web1) locally(localhost,web2) locally(localhost,web3) remote(web2,web4)",
			statuses: "web1=failed(boom web1) web2=ok web3=ok web4=ok",
			summary:  []string{"  web4 to web2 (parent web1 failed)"},
		},
		{
			// Adopted web7 fails too: its child web22 goes to web8, the first
			// generation-2 host without children.
			name: "adopted child fails", hosts: 22, barrier: true, fail: []string{"web2", "web7"},
			calls: "prepare(localhost) locally(localhost,web1) locally(localhost,web2) locally(localhost,web3) " +
				"remote(web1,web4) remote(web1,web5) remote(web1,web6) remote(web1,web7) remote(web3,web8) remote(web1,web9) " +
				"remote(web3,web10) remote(web3,web11) remote(web3,web12) " +
				"remote(web4,web13) remote(web4,web14) remote(web4,web15) remote(web5,web16) remote(web5,web17) remote(web5,web18) " +
				"remote(web6,web19) remote(web6,web20) remote(web6,web21) remote(web8,web22)",
			statuses: "web1=ok web2=failed(boom web2) web3=ok web4=ok web5=ok web6=ok web7=failed(boom web7) web8=ok web9=ok " +
				"web10=ok web11=ok web12=ok web13=ok web14=ok web15=ok web16=ok web17=ok web18=ok web19=ok web20=ok web21=ok web22=ok",
			summary: []string{"  web7 to web1 (parent web2 failed)", "  web22 to web8 (parent web7 failed)",
				"failed:\n  web2 (0.0-1.1) locally: boom web2\n  web7 (0.0-1.1-2.0) remote: boom web7\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fail := map[string]error{}
			for _, h := range tc.fail {
				fail[h] = errors.New("boom " + h)
			}
			f := &schedFake{fail: fail}
			tr := mustTree(t, tc.hosts, 3)
			r := RunStandalone(context.Background(), tr, f, RunOptions{Barrier: tc.barrier, Concurrency: 1, Heal: true})
			var got []string
			for _, c := range f.check(t) {
				got = append(got, c.String())
			}
			if g := strings.Join(got, " "); g != tc.calls {
				t.Errorf("calls:\n got %s\nwant %s", g, tc.calls)
			}
			if g := statuses(r); g != tc.statuses {
				t.Errorf("statuses:\n got %s\nwant %s", g, tc.statuses)
			}
			// Via is the source of the call that served each host.
			via := map[string]string{}
			for _, c := range f.check(t) {
				via[c.dst] = c.src
			}
			for _, res := range r.Results() {
				if res.Via != via[res.Host] {
					t.Errorf("%s: via %q, want %q", res.Host, res.Via, via[res.Host])
				}
			}
			var b bytes.Buffer
			if err := r.WriteSummary(&b); err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.summary {
				if !strings.Contains(b.String(), want) {
					t.Errorf("summary lacks %q:\n%s", want, b.String())
				}
			}
			if n, want := strings.Count(b.String(), " failed)\n"), servedByOther(tr, f.check(t)); n != want {
				t.Errorf("%d re-attached lines, want %d:\n%s", n, want, b.String())
			}
		})
	}
}

// servedByOther counts the calls whose source is not their destination's parent.
func servedByOther(tr *Tree, calls []taskCall) int {
	parent := map[string]string{}
	tr.Walk(func(n *Node) {
		if !n.IsRoot() {
			parent[n.Name()] = n.Parent.Name()
		}
	})
	n := 0
	for _, c := range calls {
		if c.dst != "" && c.src != parent[c.dst] {
			n++
		}
	}
	return n
}

// TestHealConcurrent runs without a cap on concurrency: every host but the failed
// ones ends ok, and each re-attached host starts only after its adopter has the data.
func TestHealConcurrent(t *testing.T) {
	t.Parallel()
	for _, barrier := range []bool{true, false} {
		t.Run(fmt.Sprintf("barrier=%v", barrier), func(t *testing.T) {
			t.Parallel()
			f := &schedFake{
				fail:  map[string]error{"web2": errors.New("down"), "web7": errors.New("down"), "web5": errors.New("down")},
				delay: map[string]time.Duration{"web1": 20 * time.Millisecond, "web3": 5 * time.Millisecond, "web8": 10 * time.Millisecond},
			}
			tr := mustTree(t, 40, 3)
			r := RunStandalone(context.Background(), tr, f, RunOptions{Barrier: barrier, Heal: true})
			calls := f.check(t)
			if r.Count(StatusOK) != 37 || r.Count(StatusFailed) != 3 || r.Count(StatusSkipped) != 0 {
				t.Errorf("report %s", statuses(r))
			}
			end := map[string]time.Time{}
			for _, c := range calls {
				if c.dst != "" {
					end[c.dst] = c.end
				}
			}
			for _, c := range calls {
				if c.dst == "" || c.src == RootHost {
					continue
				}
				if res, _ := r.Get(nodeIDOf(tr, c.src)); res.Status != StatusOK {
					t.Errorf("%v: source is %s", c, res.Status)
				}
				if c.start.Before(end[c.src]) {
					t.Errorf("%v started before its source had the data", c)
				}
			}
			if servedByOther(tr, calls) < 6 {
				t.Errorf("%d hosts re-attached, want at least the 6 children of web2, web5 and web7", servedByOther(tr, calls))
			}
		})
	}
}

func nodeIDOf(tr *Tree, host string) string {
	for _, n := range tr.Nodes() {
		if n.Name() == host {
			return n.ID
		}
	}
	return ""
}

// TestHealPrepareFails: no host has the data and the root's prepare failed, so
// nothing can adopt: every host is skipped as without healing.
func TestHealPrepareFails(t *testing.T) {
	t.Parallel()
	f := &schedFake{fail: map[string]error{"prepare": errors.New("no disk")}}
	r := RunStandalone(context.Background(), mustTree(t, 5, 3), f, RunOptions{Barrier: true, Heal: true})
	if calls := f.check(t); len(calls) != 1 {
		t.Errorf("calls %v, want prepare only", calls)
	}
	if r.Count(StatusSkipped) != 5 {
		t.Errorf("report %s", statuses(r))
	}
}

// TestHealCancel: a node failed by cancellation has its subtree skipped, not
// re-attached; a child adopted before the cancellation still runs when the
// barrier lets it, and is skipped when the barrier holds it until after.
func TestHealCancel(t *testing.T) {
	t.Parallel()
	for _, barrier := range []bool{true, false} {
		t.Run(fmt.Sprintf("barrier=%v", barrier), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// 7 hosts, branches 3: web4..web6 under web1, web7 under web2.
			f := &schedFake{
				block: map[string]bool{"web1": true},
				fail:  map[string]error{"web2": errors.New("down")},
			}
			// Cancelled once the report has web2's failure and web3's copy,
			// and without the barrier web7's copy from its adopter (a fixed
			// delay after web3 started lost the race on a loaded machine).
			before := webs(2, 3)
			if !barrier {
				before = webs(2, 3, 7)
			}
			reports := make(chan *Report, 1)
			go func() {
				var r *Report
				select {
				case r = <-reports:
				case <-ctx.Done():
					return
				}
				for deadline := time.Now().Add(waitTimeout); !settled(r, before) && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}()
			r := RunStandalone(ObserveReports(ctx, func(r *Report) { reports <- r }), mustTree(t, 7, 3), f, RunOptions{Barrier: barrier, Heal: true})
			calls := f.check(t)
			web7 := "web7=ok"
			if barrier {
				web7 = "web7=skipped(cancelled)"
			}
			want := "web1=failed(context canceled) web2=failed(down) web3=ok web4=skipped(cancelled) web5=skipped(cancelled) web6=skipped(cancelled) " + web7
			if got := statuses(r); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			for _, c := range calls {
				if c.dst == "web4" || c.dst == "web5" || c.dst == "web6" {
					t.Errorf("%v ran after its parent was cancelled", c)
				}
			}
		})
	}
}

// settled reports whether every one of hosts has its result in r.
func settled(r *Report, hosts []string) bool {
	for _, res := range r.Results() {
		if slices.Contains(hosts, res.Host) && res.Status == StatusPending {
			return false
		}
	}
	return true
}
