package output

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowWriter takes delay for every write, like a terminal or a pipe reader
// that cannot keep up, and records the largest write. With hold set, writes
// wait until it is closed: a paused terminal.
type slowWriter struct {
	delay   time.Duration
	hold    chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
	writes  int
	largest int
}

func (w *slowWriter) Write(b []byte) (int, error) {
	if w.hold != nil {
		<-w.hold
	}
	time.Sleep(w.delay)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	w.largest = max(w.largest, len(b))
	return w.buf.Write(b)
}

func (w *slowWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// printConcurrently prints lines lines of width bytes from each of hosts
// goroutines at once, as the tasks of a run do, and returns when all are printed.
func printConcurrently(p *Printer, hosts, lines, width int) {
	pad := strings.Repeat("x", width)
	var wg sync.WaitGroup
	for h := range hosts {
		wg.Go(func() {
			for i := range lines {
				p.Line(fmt.Sprintf("h%02d", h), fmt.Sprintf("line %d %s", i, pad))
			}
		})
	}
	wg.Wait()
}

// A queued printer on a slow writer: a paused terminal (sample) drops what
// does not fit in the queue and says how many on the notes writer, so the run
// ends while the terminal still holds its first write; a file or a pipe gets
// every line, in order, the run waiting for the writer, whose writes (the
// memory held) never exceed the queue.
func TestQueuedPrinterOnASlowWriter(t *testing.T) {
	t.Parallel()
	const hosts, lines, width = 16, 256, 1 << 10 // 4 MiB: four times the queue
	tests := []struct {
		name   string
		sample bool
	}{
		{"terminal: sampled", true},
		{"file or pipe: every line", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &slowWriter{delay: 20 * time.Millisecond}
			if tc.sample {
				w.hold = make(chan struct{})
			}
			var notes bytes.Buffer
			p := NewPrinter(w, nil)
			unqueue := p.Queue(tc.sample, &notes)
			printConcurrently(p, hosts, lines, width)
			if w.hold != nil {
				close(w.hold)
			}
			if err := unqueue(); err != nil {
				t.Fatal(err)
			}
			p.Line("h", "after") // written directly once unqueued
			out := w.String()
			got := map[string][]int{}
			for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				var host string
				var i int
				if _, err := fmt.Sscanf(l, "%s | line %d", &host, &i); err != nil {
					if l == "h | after" {
						continue
					}
					t.Fatalf("torn line %.80q", l)
				}
				got[host] = append(got[host], i)
			}
			written := 0
			for host, is := range got {
				for k := 1; k < len(is); k++ {
					if is[k] <= is[k-1] {
						t.Fatalf("%s: line %d after line %d", host, is[k], is[k-1])
					}
				}
				written += len(is)
			}
			if w.largest > QueueBytes {
				t.Errorf("a write of %d bytes: the queue holds at most %d", w.largest, QueueBytes)
			}
			if !strings.HasSuffix(out, "h | after\n") {
				t.Errorf("the line written after unqueue is not last")
			}
			if !tc.sample {
				if written != hosts*lines || notes.Len() != 0 {
					t.Errorf("%d of %d lines written, notes %q: want every line and no note", written, hosts*lines, notes.String())
				}
				return
			}
			var dropped int
			if _, err := fmt.Sscanf(notes.String(), "grifork: %d lines of output not shown", &dropped); err != nil {
				t.Fatalf("no note about dropped lines: %q (%v)", notes.String(), err)
			}
			if written+dropped != hosts*lines || dropped == 0 {
				t.Errorf("%d lines written + %d dropped, want %d in all, some dropped", written, dropped, hosts*lines)
			}
			if strings.Contains(out, "grifork:") {
				t.Errorf("the note is among the output lines")
			}
		})
	}
}

// Lines printed while the writer is busy go out together: a fleet printing at
// full speed costs a write per queue's worth, not per line.
func TestQueuedPrinterBatchesWrites(t *testing.T) {
	t.Parallel()
	w := &slowWriter{hold: make(chan struct{})}
	p := NewPrinter(w, nil)
	unqueue := p.Queue(false, nil)
	for i := range 10000 {
		p.Line("h", fmt.Sprint(i))
	}
	close(w.hold)
	if err := unqueue(); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&want, "h | %d\n", i)
	}
	if w.String() != want.String() {
		t.Fatal("lines lost or out of order")
	}
	// The first lines go out at once (the writer was idle), the rest, queued
	// while that write waits, in one more.
	if w.writes > 2 {
		t.Errorf("%d writes for 10,000 lines", w.writes)
	}
}

type brokenWriter struct{ writes int }

func (b *brokenWriter) Write(p []byte) (int, error) {
	b.writes++
	return 0, fmt.Errorf("no space left on device")
}

// An output that fails is an error of the run (not a silent loss), and the
// queue does not wait for a writer that cannot take anything.
func TestQueuedPrinterReportsWriteErrors(t *testing.T) {
	t.Parallel()
	w := &brokenWriter{}
	p := NewPrinter(w, nil)
	unqueue := p.Queue(false, nil)
	for i := range 20000 {
		p.Line("h", fmt.Sprint(i, strings.Repeat("x", 100)))
	}
	err := unqueue()
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("unqueue() = %v, want the write error", err)
	}
}

// The log's QueueWriter drops what does not fit and writes a note with the
// count after what it queued.
func TestQueueWriterDropsAndCounts(t *testing.T) {
	t.Parallel()
	w := &slowWriter{hold: make(chan struct{})}
	q := NewQueueWriter(w, 4, "log records")
	for i := range 100 {
		fmt.Fprintf(q, "record %d\n", i)
	}
	close(w.hold)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	out := w.String()
	written := strings.Count(out, "record ")
	var dropped int
	if _, err := fmt.Sscanf(out[strings.LastIndex(out, "grifork: "):], "grifork: %d log records dropped", &dropped); err != nil {
		t.Fatalf("no note at the end: %q", out)
	}
	if written+dropped != 100 || written < 4 || written > 5 {
		t.Errorf("%d written + %d dropped, want 100, the queue's 4 (and one being written) written", written, dropped)
	}
}
