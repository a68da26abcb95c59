package gopool

import "sync/atomic"

// Pool runs functions on goroutines of its own, reusing those that are done.
// Safe for concurrent use.
type Pool struct {
	jobs    chan func()
	quit    <-chan struct{}
	maxIdle int64
	idle    atomic.Int64
	started atomic.Int64 // goroutines started, for tests
}

// New returns a pool that keeps up to maxIdle goroutines waiting for work,
// until quit is closed.
func New(quit <-chan struct{}, maxIdle int) *Pool {
	return &Pool{jobs: make(chan func()), quit: quit, maxIdle: int64(maxIdle)}
}

// Go runs fn on a goroutine: a waiting one of the pool, or a new one.
func (p *Pool) Go(fn func()) {
	select {
	case p.jobs <- fn:
	default:
		p.started.Add(1)
		go p.run(fn)
	}
}

func (p *Pool) run(fn func()) {
	for {
		fn()
		fn = nil // not kept alive while waiting
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		select {
		case fn = <-p.jobs:
			p.idle.Add(-1)
		case <-p.quit:
			p.idle.Add(-1)
			return
		}
	}
}
