package core

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowWriter takes delay for every write, like a terminal that cannot keep up.
type slowWriter struct {
	delay time.Duration
	mu    sync.Mutex
	buf   bytes.Buffer
}

func (w *slowWriter) Write(b []byte) (int, error) {
	time.Sleep(w.delay)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w *slowWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// printingTasks prints lines lines on every edge task.
type printingTasks struct {
	p     *Printer
	lines int
}

func (printingTasks) Defined(Block) bool { return true }
func (t printingTasks) Run(_ context.Context, e Edge) error {
	if e.Dst != nil {
		for i := range t.lines {
			t.p.Line(e.Dst.Name(), fmt.Sprintf("line %d", i))
		}
	}
	return nil
}
func (printingTasks) Finish(context.Context, *Report) error { return nil }

// A slow terminal does not slow the run down: with the printer queued, tasks
// that print 2,000 lines to a writer taking 5 ms a line (10 s of writing) end
// at once; what did not fit in the queue is dropped and counted, and the lines
// that were written are whole and in order.
func TestSlowTerminalDoesNotHoldUpTheRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		queued bool
		within time.Duration
	}{
		{"queued", true, 2 * time.Second},
		// The control: the same run writing directly takes as long as the writer.
		{"direct", false, time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &slowWriter{delay: 5 * time.Millisecond}
			p := NewPrinter(w, nil)
			lines, hosts := 20, 100
			if !tc.queued {
				hosts = 4 // 80 lines, 0.4 s: enough to see the writer's pace
			}
			unqueue := func() error { return nil }
			if tc.queued {
				unqueue = p.Queue(64)
			}
			tree, err := BuildTree(manyHosts(hosts), 4)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			r := RunStandalone(context.Background(), tree, printingTasks{p: p, lines: lines}, RunOptions{Barrier: true})
			took := time.Since(start)
			if !r.OK() {
				t.Fatal(r.Headline())
			}
			if err := unqueue(); err != nil {
				t.Fatal(err)
			}
			out := w.String()
			total := hosts * lines
			if !tc.queued {
				if min := time.Duration(total) * w.delay; took < min {
					t.Fatalf("direct run took %v, want at least %v (the writer's pace)", took, min)
				}
				return
			}
			if took > tc.within {
				t.Errorf("run took %v with a slow terminal, want under %v", took, tc.within)
			}
			written := strings.Count(out, " | line ")
			var dropped int
			if _, err := fmt.Sscanf(out[strings.LastIndex(out, "grifork: "):], "grifork: %d lines of output dropped", &dropped); err != nil {
				t.Fatalf("no note about dropped lines at the end: %q (%v)", out[max(0, len(out)-200):], err)
			}
			if written+dropped != total || written < 64 {
				t.Errorf("%d lines written + %d dropped, want %d in all and at least the queue's 64 written", written, dropped, total)
			}
			for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				if !strings.Contains(l, " | line ") && !strings.HasPrefix(l, "grifork: ") {
					t.Fatalf("torn line %q", l)
				}
			}
		})
	}
}

// Without drops, a queued printer writes every line in order, and after the
// queue is closed it writes directly again.
func TestQueueWriterOrder(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := NewPrinter(&buf, nil)
	unqueue := p.Queue(100)
	for i := range 50 {
		p.Line("h", fmt.Sprint(i))
	}
	if err := unqueue(); err != nil {
		t.Fatal(err)
	}
	p.Line("h", "after")
	var want strings.Builder
	for i := range 50 {
		fmt.Fprintf(&want, "h | %d\n", i)
	}
	want.WriteString("h | after\n")
	if buf.String() != want.String() {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want.String())
	}
}
