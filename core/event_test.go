package core

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grifork/grifork/core/output"
	"github.com/grifork/grifork/redact"
)

// The wire format is a contract between binaries of different versions on
// different hosts: these lines pin it.
func TestEventWire(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		ev   Event
		wire string
	}{
		{Event{Type: EventStarted, NodeID: "0.0-1.0", Host: "web1", Task: BlockLocally, Start: start},
			`{"type":"started","node":"0.0-1.0","host":"web1","task":"locally","start":"2025-01-02T03:04:05.000000006Z"}`},
		{Event{Type: EventOutput, NodeID: "0.0-1.0", Host: "web1", Line: `web1 | "quoted" ü`, Stream: StreamConsole},
			`{"type":"output","node":"0.0-1.0","host":"web1","line":"web1 | \"quoted\" ü","stream":"console"}`},
		{Event{Type: EventResult, NodeID: "0.0-1.0-2.1", Host: "deploy@web5:2222", Task: BlockRemote, Status: StatusFailed,
			Err: "exit status 1", Start: start, Duration: 1500 * time.Millisecond},
			`{"type":"result","node":"0.0-1.0-2.1","host":"deploy@web5:2222","task":"remote","status":"failed","err":"exit status 1","start":"2025-01-02T03:04:05.000000006Z","duration":1500000000}`},
		{Event{Type: EventDone, NodeID: "0.0-1.0", Host: "web1", Status: StatusOK},
			`{"type":"done","node":"0.0-1.0","host":"web1","status":"ok"}`},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		NewEventWriter(&buf, nil).Emit(tc.ev)
		if got := buf.String(); got != tc.wire+"\n" {
			t.Errorf("encoded\n got %s\nwant %s", got, tc.wire)
		}
		var back []Event
		from := &Node{ID: "x", Host: Host{Name: "x"}}
		if err := ReadEvents(&buf, from, func(e Event) { back = append(back, e) }); err != nil {
			t.Fatal(err)
		}
		if len(back) != 1 || back[0].raw != tc.wire {
			t.Fatalf("decoded %+v, want one event read from %s", back, tc.wire)
		}
		if back[0].raw = ""; back[0] != tc.ev {
			t.Errorf("decoded %+v, want %+v", back[0], tc.ev)
		}
	}
}

func TestReadEventsStrayLines(t *testing.T) {
	t.Parallel()
	in := "Welcome to web1\n\n" + `{"type":"done","node":"n1","host":"web1","status":"ok"}` + "\n{not json\n{\"line\":\"no type\"}\n"
	from := &Node{ID: "n1", Host: Host{Name: "web1"}}
	var got []Event
	if err := ReadEvents(strings.NewReader(in), from, func(e Event) {
		e.raw = ""
		got = append(got, e)
	}); err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Type: EventOutput, NodeID: "n1", Host: "web1", Line: "Welcome to web1", Stream: "stdout"},
		{Type: EventDone, NodeID: "n1", Host: "web1", Status: StatusOK},
		{Type: EventOutput, NodeID: "n1", Host: "web1", Line: "{not json", Stream: "stdout"},
		{Type: EventOutput, NodeID: "n1", Host: "web1", Line: `{"line":"no type"}`, Stream: "stdout"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestReadEventsTooLong(t *testing.T) {
	t.Parallel()
	from := &Node{ID: "n1", Host: Host{Name: "web1"}}
	err := ReadEvents(strings.NewReader(strings.Repeat("x", maxEventLine+1)), from, func(Event) {})
	if err == nil || !strings.Contains(err.Error(), "web1") {
		t.Fatalf("err = %v, want a too-long error naming the host", err)
	}
}

// Concurrent printers and emitters must never interleave two events in a line.
func TestEventWriterConcurrent(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	ew := NewEventWriter(&buf, nil)
	n := &Node{ID: "n1", Host: Host{Name: "web1"}}
	p := output.NewPrinter(ew.OutputWriter(n, StreamConsole), redact.New("s3cret"))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			for j := range 50 {
				if j%2 == 0 {
					p.Line("web1", fmt.Sprintf("line %d.%d s3cret", i, j))
				} else {
					ew.Emit(Event{Type: EventStarted, NodeID: fmt.Sprint(i), Host: "h"})
				}
			}
		})
	}
	wg.Wait()
	count := 0
	err := ReadEvents(&buf, n, func(e Event) {
		count++
		if e.Type == EventOutput && (e.Stream != StreamConsole || !strings.HasPrefix(e.Line, "web1 | line ") ||
			!strings.HasSuffix(e.Line, "[REDACTED]")) {
			t.Errorf("bad output event %+v", e)
		}
	})
	if err != nil || count != 1000 {
		t.Fatalf("read %d events, err %v; want 1000", count, err)
	}
}

func TestOutputWriterLastLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	ew := NewEventWriter(&buf, nil)
	w := ew.OutputWriter(&Node{ID: "n1", Host: Host{Name: "web1"}}, "stderr")
	fmt.Fprint(w, "a\r\nb")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	_ = ReadEvents(&buf, &Node{}, func(e Event) { lines = append(lines, e.Line) })
	if fmt.Sprint(lines) != "[a\r b]" { // bytes pass through, a carriage return too
		t.Errorf("lines = %q, want [a\\r b]", lines)
	}
}

type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, fmt.Errorf("broken pipe")
}

func TestEventWriterStopsAfterError(t *testing.T) {
	t.Parallel()
	fw := &failingWriter{}
	ew := NewEventWriter(fw, nil)
	ew.Emit(Event{Type: EventDone})
	ew.Emit(Event{Type: EventDone})
	if fw.n != 1 || ew.Err() == nil {
		t.Errorf("writes = %d, err = %v; want 1 write and the error kept", fw.n, ew.Err())
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// ReadEvents reads ahead of its consumer by its small buffer at most: a node
// with a slow parent does not pile its children's events up in memory (their
// writes wait instead), and one reader per child costs 4 KiB, not 64.
func TestReadEventsReadsLittleAhead(t *testing.T) {
	t.Parallel()
	line := `{"type":"started","node":"0.0-1.0-2.3","host":"web17.internal","task":"remote","start":"2025-01-02T03:04:05.000000006Z"}` + "\n"
	cr := &countingReader{r: strings.NewReader(strings.Repeat(line, 10_000))}
	consumed, ahead := 0, 0
	err := ReadEvents(cr, &Node{ID: "0.0-1.0"}, func(Event) {
		consumed += len(line)
		ahead = max(ahead, cr.n-consumed)
	})
	if err != nil || consumed != 10_000*len(line) {
		t.Fatalf("read %d bytes of events, err %v", consumed, err)
	}
	if ahead > 4<<10 {
		t.Errorf("read up to %d bytes ahead of the consumer, want at most 4 KiB", ahead)
	}
}
