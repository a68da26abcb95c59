package output

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

// QueueBytes is how much printed output a queued Printer holds while its
// writer is busy; another buffer of up to that much is being written.
const QueueBytes = 1 << 20

// outputQueue is a Printer's queue (see Printer.Queue): lines are appended to
// a buffer of QueueBytes that a goroutine writes out whole, so that many lines
// cost one write; when it is full, a line waits (or, sampling, is dropped).
type outputQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond // signalled on every change below
	w       io.Writer
	sample  bool
	pending []byte
	spare   []byte // the buffer being written, then reused
	writing bool
	closed  bool
	dropped int
	err     error
	done    chan struct{}
}

func newOutputQueue(w io.Writer, sample bool) *outputQueue {
	q := &outputQueue{w: w, sample: sample, done: make(chan struct{})}
	q.cond = sync.NewCond(&q.mu)
	go q.drain()
	return q
}

func (q *outputQueue) drain() {
	defer close(q.done)
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.pending) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.pending) == 0 {
			return
		}
		b, w := q.pending, q.w
		q.pending, q.writing = q.spare[:0], true
		q.mu.Unlock()
		_, err := w.Write(b)
		q.mu.Lock()
		q.spare, q.writing = b[:0], false
		if err != nil && q.err == nil {
			q.err = err
		}
		q.cond.Broadcast()
	}
}

// write queues a copy of line, one whole line; it waits while the queue is
// full unless sampling.
func (q *outputQueue) write(line []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.err == nil && len(q.pending) > 0 && len(q.pending)+len(line) > QueueBytes {
		if q.sample {
			q.dropped++
			return
		}
		q.cond.Wait()
	}
	if q.err != nil {
		return // the output is broken: result says so
	}
	q.pending = append(q.pending, line...)
	q.cond.Broadcast()
}

// setWriter makes the queue write to w once what it holds is written.
func (q *outputQueue) setWriter(w io.Writer) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.pending) > 0 || q.writing {
		q.cond.Wait()
	}
	q.w = w
}

// close writes what is queued, stops the goroutine and returns the writer.
func (q *outputQueue) close() io.Writer {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
	<-q.done
	return q.w
}

// result writes the note about dropped lines to notes and returns the first
// write error; call it after close.
func (q *outputQueue) result(notes io.Writer) error {
	if q.dropped > 0 {
		fmt.Fprintf(notes, "grifork: %d lines of output not shown: the terminal could not keep up with the run (redirect the output to a file or a pipe to get every line)\n", q.dropped)
	}
	if q.err != nil {
		return fmt.Errorf("write the output: %w", q.err)
	}
	return nil
}
