package core

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/grifork/grifork/redact"
)

// EventType is the kind of a grifork-mode event.
type EventType string

const (
	// EventStarted: a task toward node NodeID started.
	EventStarted EventType = "started"
	// EventOutput: one line of console output (Line) produced while serving NodeID.
	EventOutput EventType = "output"
	// EventResult: the final outcome of node NodeID (ok, failed or skipped).
	EventResult EventType = "result"
	// EventDone: the remote grifork on node NodeID reached its end. Status says
	// whether its own blocks (prepare_remote, finish_remote) succeeded; a failed
	// Status carries Task and Err. Its descendants' outcomes travel as results.
	EventDone EventType = "done"
	// EventHeartbeat: the remote grifork on node NodeID is alive. It sends one
	// every few seconds whatever its tasks do; its parent takes silence for a
	// frozen node (see GriforkOptions.HeartbeatTimeout) and relays none upward.
	EventHeartbeat EventType = "heartbeat"
)

// Event is one line of the grifork-mode protocol. A remote grifork writes events
// as JSON lines to its standard output; each parent relays its children's events
// upward unchanged, so the root sees every node of the tree. Start is RFC 3339;
// Duration is in nanoseconds.
type Event struct {
	Type     EventType     `json:"type"`
	NodeID   string        `json:"node,omitempty"`
	Host     string        `json:"host,omitempty"`
	Task     Block         `json:"task,omitempty"`
	Status   Status        `json:"status,omitempty"`
	Via      string        `json:"via,omitempty"` // result: the host that served the node
	Err      string        `json:"err,omitempty"`
	Start    time.Time     `json:"start,omitzero"`
	Duration time.Duration `json:"duration,omitempty"`
	Line     string        `json:"line,omitempty"`
	Stream   string        `json:"stream,omitempty"` // "stdout", "stderr" or "log"
}

// Result turns a result event into the report entry of its node; level comes
// from the receiver's own copy of the tree, since events do not carry it.
func (e Event) Result(level int) Result {
	return Result{
		NodeID:   e.NodeID,
		Host:     e.Host,
		Level:    level,
		Status:   e.Status,
		Task:     e.Task,
		Via:      e.Via,
		Start:    e.Start,
		Duration: e.Duration,
		Err:      e.Err,
	}
}

// ResultEvent is the event that carries res.
func ResultEvent(res Result) Event {
	return Event{
		Type:     EventResult,
		NodeID:   res.NodeID,
		Host:     res.Host,
		Task:     res.Task,
		Status:   res.Status,
		Via:      res.Via,
		Err:      res.Err,
		Start:    res.Start,
		Duration: res.Duration,
	}
}

// EventWriter encodes events as JSON lines. It is safe for concurrent use: each
// event is written with one Write call under a lock, so lines never interleave.
type EventWriter struct {
	mu  sync.Mutex
	w   io.Writer
	red *redact.Redactor
	err error
}

// NewEventWriter returns an EventWriter on w whose lines and errors are redacted
// with red.
func NewEventWriter(w io.Writer, red *redact.Redactor) *EventWriter {
	return &EventWriter{w: w, red: red}
}

// Emit writes ev as one line. After the first write error it drops events (the
// parent that reads them is gone) and Err reports that error.
func (ew *EventWriter) Emit(ev Event) {
	// Before encoding: JSON escapes would hide a secret with quotes in it.
	ev.Line, ev.Err = ew.red.String(ev.Line), ew.red.String(ev.Err)
	b, err := json.Marshal(ev)
	if err != nil { // an Event holds only strings, numbers and times
		b = fmt.Appendf(nil, `{"type":"output","line":%q}`, "grifork: cannot encode event: "+err.Error())
	}
	b = append(b, '\n')
	ew.mu.Lock()
	defer ew.mu.Unlock()
	if ew.err != nil {
		return
	}
	if _, err := ew.w.Write(b); err != nil {
		ew.err = err
	}
}

// Err returns the first write error, if any.
func (ew *EventWriter) Err() error {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	return ew.err
}

// OutputWriter returns a writer that emits every complete line written to it as an
// output event of node n on stream; Close flushes a last unterminated line. A
// remote grifork points its Printer at one, so task output reaches the root.
func (ew *EventWriter) OutputWriter(n *Node, stream string) io.WriteCloser {
	return NewLineWriter(func(line string) {
		ew.Emit(Event{Type: EventOutput, NodeID: n.ID, Host: n.Name(), Line: line, Stream: stream})
	})
}

// maxEventLine bounds one event line; task output lines longer than that are
// unusual enough that cutting the stream with an error is acceptable.
const maxEventLine = 4 << 20

// ReadEvents decodes JSON-line events from r and calls fn for each, until EOF
// (nil) or a read error. A line that is not an event (a stray print of a remote
// shell profile, say) is passed on as an output event of from, so nothing a node
// says gets lost.
func ReadEvents(r io.Reader, from *Node, fn func(Event)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxEventLine)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil || ev.Type == "" {
			fn(Event{Type: EventOutput, NodeID: from.ID, Host: from.Name(), Line: string(line), Stream: "stdout"})
			continue
		}
		fn(ev)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("events from %s: line longer than %d bytes: %w", from.Name(), maxEventLine, err)
		}
		return fmt.Errorf("events from %s: %w", from.Name(), err)
	}
	return nil
}
