package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grifork/grifork/core"
)

// TestSeedParents checks the plan the binary takes on a cold start: the root
// ships only to its own children; every other host gets it from exactly one
// host that comes before it in the tree's breadth-first order (so it got the
// binary before: no cycle); each seeder's turns are 0, 1, 2...; and, replayed
// with the plan's own model (an upload takes 1, a host seeds seedReady after
// its upload, a seeder ships one host at a time in its turns), the last host
// has it when such a broadcast can at best: the hosts that hold it at time t
// are f(t) = f(t-1) + f(t-3) per root child (f(0) = 1), so 16 hosts from one
// root child take 7 uploads' time (f(7) = 19), where waves of four uploads
// at once, each wave then readied, took 10.
func TestSeedParents(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ hosts, branches, last int }{
		{1, 1, 0}, {2, 1, 1}, {5, 4, 1}, {16, 1, 7}, {16, 2, 5}, {48, 1, 10}, {48, 4, 6}, {1000, 1, 18},
	} {
		t.Run(fmt.Sprintf("%d hosts, branches %d", tc.hosts, tc.branches), func(t *testing.T) {
			t.Parallel()
			var hosts []core.Host
			for i := range tc.hosts {
				hosts = append(hosts, core.Host{Name: fmt.Sprintf("h%d", i)})
			}
			tr, err := core.BuildTree(hosts, tc.branches)
			if err != nil {
				t.Fatal(err)
			}
			sp := seedParents(tr)
			if got, want := len(sp), tc.hosts-len(tr.Root.Children); got != want {
				t.Fatalf("%d hosts seeded by a relay, want %d", got, want)
			}
			pos := map[string]int{}
			var order []string
			for _, g := range tr.Generations() {
				for _, n := range g {
					pos[n.Name()] = len(order)
					order = append(order, n.Name())
				}
			}
			for _, c := range tr.Root.Children {
				if _, ok := sp[c.Name()]; ok {
					t.Errorf("%s, a child of the root, has a seeder", c.Name())
				}
			}
			turns := map[string][]string{}
			for _, h := range order {
				slot, ok := sp[h]
				if !ok {
					continue
				}
				if pos[slot.seeder] >= pos[h] {
					t.Fatalf("%s is seeded by %s, which comes after it", h, slot.seeder)
				}
				for len(turns[slot.seeder]) <= slot.turn {
					turns[slot.seeder] = append(turns[slot.seeder], "")
				}
				if prev := turns[slot.seeder][slot.turn]; prev != "" {
					t.Fatalf("%s and %s have the same turn %d of %s", prev, h, slot.turn, slot.seeder)
				}
				turns[slot.seeder][slot.turn] = h
			}
			// Replay: hosts in order have their seeder's ready time set.
			ready := map[string]int{}
			uploaded := map[string]int{}
			last := 0
			for _, h := range order {
				slot, ok := sp[h]
				if !ok {
					continue // from the root, ready at 0
				}
				at := ready[slot.seeder]
				for k, prev := range turns[slot.seeder][:slot.turn] {
					if prev == "" {
						t.Fatalf("%s: turn %d of %s is nobody's", h, k, slot.seeder)
					}
					at = max(at, uploaded[prev])
				}
				uploaded[h] = at + 1
				ready[h] = at + 1 + seedReady
				last = max(last, uploaded[h])
			}
			if last != tc.last {
				t.Errorf("the last host has the binary after %d uploads' time, want %d", last, tc.last)
			}
		})
	}
}

// TestReadConnect reads seed requests, then the connect message that ends
// them, as a relay does.
func TestReadConnect(t *testing.T) {
	t.Parallel()
	in := `{"seed":{"name":"h2","host":{"name":"h2"},"socket":""}}
{"seed":{"name":"h3","host":{"name":"h3"},"socket":""}}
{"parent":"h1","children":[{"name":"h4","host":{"name":"h4"},"socket":"/s"}]}
`
	var seeded []string
	conn, err := readConnect(bufio.NewReader(strings.NewReader(in)), func(p relayPeer) { seeded = append(seeded, p.Name) })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seeded, " ") != "h2 h3" || conn.Parent != "h1" || len(conn.Children) != 1 || conn.Children[0].Socket != "/s" || conn.Seed != nil {
		t.Errorf("seeded %v, then %+v", seeded, conn)
	}
	if _, err := readConnect(bufio.NewReader(strings.NewReader(`{"seed":{"name":"h2"}}`+"\n")), func(relayPeer) {}); err == nil {
		t.Error("the end of the input before the connect message is no error")
	}
}

// TestSeedTurns: a seeder ships to one host at a time once it listens, the
// earliest planned turn among those waiting first; a waiter that gives up passes nothing
// wrong on; once the seeder is broken off, every waiter and every later
// acquire fails at once.
func TestSeedTurns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var q seedTurns
	waitFor := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			q.mu.Lock()
			k := len(q.waiting)
			q.mu.Unlock()
			if k == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiting, want %d", k, n)
			}
		}
	}
	got := make(chan int, 4)
	gaveUp, cancel := context.WithCancel(ctx)
	gaveUpErr := make(chan error, 1)
	for _, turn := range []int{3, 1, 2} {
		go func() {
			if err := q.acquire(ctx, turn, nil); err != nil {
				t.Error(err)
			}
			got <- turn
		}()
	}
	go func() { gaveUpErr <- q.acquire(gaveUp, 0, nil) }()
	waitFor(4) // every turn waits for the seeder to listen, whichever asked first
	cancel()
	if err := <-gaveUpErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled wait: %v", err)
	}
	q.start()
	order := []int{<-got}
	for range 2 {
		q.release()
		order = append(order, <-got)
	}
	if fmt.Sprint(order) != "[1 2 3]" {
		t.Errorf("turns went %v, want [1 2 3]", order)
	}

	// A waiter that gives up just as it is given the go passes the turn on:
	// cancelled and released at once, it takes either way out of its select.
	for range 20 {
		gaveUp, cancel := context.WithCancel(ctx)
		first, next := make(chan error, 1), make(chan error, 1)
		go func() { first <- q.acquire(gaveUp, 7, nil) }()
		waitFor(1)
		go func() { next <- q.acquire(ctx, 8, nil) }()
		waitFor(2)
		cancel()
		q.release()
		if err := <-first; err == nil {
			q.release() // it took the turn: its release lets turn 8 go
		}
		select {
		case err := <-next:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the turn after a waiter that gave up never went")
		}
	}

	stopped := make(chan struct{})
	ended := make(chan error, 1)
	go func() { ended <- q.acquire(ctx, 4, stopped) }()
	waitFor(1)
	close(stopped)
	if err := <-ended; !errors.Is(err, errSeederEnded) {
		t.Fatalf("a wait on a seeder that ended: %v", err)
	}

	// A host that asks after its seeder ended is refused at once, turn free or not.
	var late seedTurns
	late.start()
	if err := late.acquire(ctx, 0, stopped); !errors.Is(err, errSeederEnded) {
		t.Errorf("an ask after the seeder ended: %v", err)
	}

	broken := errors.New("no answer")
	go func() { ended <- q.acquire(ctx, 5, nil) }()
	waitFor(1)
	q.breakOff(broken)
	if err := <-ended; err != broken {
		t.Errorf("a waiter when the seeder broke off: %v", err)
	}
	q.release()
	if err := q.acquire(ctx, 6, nil); err != broken {
		t.Errorf("an acquire after the break: %v", err)
	}
}
