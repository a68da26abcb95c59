package core

import (
	"fmt"
	"io"
	"sync"
)

// QueueWriter writes to w from a goroutine of its own through a queue of a
// bounded number of writes, so that a slow w (a terminal that scrolls slowly or
// is paused, a log on a busy disk) never holds up whoever writes: the
// schedulers print and log from their hot paths. When the queue is full a write
// is dropped and counted; Close writes a note with the count, so a loss is
// never silent. Memory stays bounded by the queue. Safe for concurrent
// use; writes keep their order.
type QueueWriter struct {
	w    io.Writer
	what string // what is dropped, for the note: "lines of output"

	mu      sync.Mutex
	q       chan []byte
	dropped int
	closed  bool
	done    chan struct{}
}

// NewQueueWriter starts a QueueWriter of n writes on w. what names the writes
// in the note about dropped ones ("lines of output").
func NewQueueWriter(w io.Writer, n int, what string) *QueueWriter {
	q := &QueueWriter{w: w, what: what, q: make(chan []byte, n), done: make(chan struct{})}
	go q.drain()
	return q
}

func (q *QueueWriter) drain() {
	defer close(q.done)
	for b := range q.q {
		q.w.Write(b) // nowhere to report a console's error: the run goes on
	}
}

// Write queues a copy of b, or drops it when the queue is full. After Close
// it writes to w directly.
func (q *QueueWriter) Write(b []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return q.w.Write(b)
	}
	select {
	case q.q <- append([]byte(nil), b...):
	default:
		q.dropped++
	}
	return len(b), nil
}

// Close writes what is queued and the note about dropped writes, if any, and
// stops the goroutine; later writes go to w directly. Idempotent.
func (q *QueueWriter) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	close(q.q)
	<-q.done
	if q.dropped > 0 {
		_, err := fmt.Fprintf(q.w, "grifork: %d %s dropped: the output could not keep up with the run\n", q.dropped, q.what)
		return err
	}
	return nil
}
