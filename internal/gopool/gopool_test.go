package gopool

import (
	"sync"
	"testing"
	"time"
)

// waitIdle waits until lo to hi goroutines of p are done and about to wait
// for work (an instant before they can take it).
func waitIdle(t *testing.T, p *Pool, lo, hi int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n := p.idle.Load(); n < lo || n > hi; n = p.idle.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines idle, want %d to %d", n, lo, hi)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPool(t *testing.T) {
	t.Parallel()
	// A goroutine counts as idle just before it waits, so a round may start
	// while one of the last is not quite waiting: a few more goroutines than
	// the least may be started, and kept (up to maxIdle).
	tests := []struct {
		name           string
		maxIdle        int
		concurrent     int // functions running at once, in each of the rounds
		rounds         int
		started, slack int64 // goroutines started: at least started, at most started+slack
		idle           int64 // idle after a round: at least idle, at most maxIdle
	}{
		{"one at a time reuses one goroutine", 4, 1, 100, 1, 20, 1},
		{"a burst is reused by the next burst", 8, 8, 20, 8, 30, 8},
		{"no more than maxIdle are kept", 2, 6, 20, 2 + 20*4, 30, 2},
		{"none kept", 0, 1, 20, 20, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			quit := make(chan struct{})
			defer close(quit)
			p := New(quit, tt.maxIdle)
			for range tt.rounds {
				var wg sync.WaitGroup
				release := make(chan struct{})
				for range tt.concurrent {
					wg.Add(1)
					p.Go(func() {
						defer wg.Done()
						<-release
					})
				}
				close(release)
				wg.Wait()
				waitIdle(t, p, tt.idle, int64(tt.maxIdle))
			}
			if got := p.started.Load(); got < tt.started || got > tt.started+tt.slack {
				t.Errorf("started %d goroutines, want %d to %d", got, tt.started, tt.started+tt.slack)
			}
		})
	}
}

// Closing quit ends the waiting goroutines.
func TestPoolQuit(t *testing.T) {
	t.Parallel()
	quit := make(chan struct{})
	p := New(quit, 4)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		p.Go(func() {
			defer wg.Done()
			time.Sleep(time.Millisecond)
		})
	}
	wg.Wait()
	waitIdle(t, p, 3, 3)
	close(quit)
	waitIdle(t, p, 0, 0)
}
