package core

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/grifork/grifork/internal/lines"
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

	// raw is the line ReadEvents decoded this event from: EventWriter.Emit
	// writes it as it is instead of encoding the event again, so a relay costs
	// every level one decoding and no encoding. Code that changes a decoded
	// event before emitting it must clear raw.
	raw string
}

// Result turns a result event into the report entry of its node; level comes
// from the receiver's own copy of the tree, since events do not carry it.
func (e Event) Result(level int) Result {
	if e.raw != "" {
		// Decoded strings are parts of the line: a report keeps only its own.
		e.NodeID, e.Host, e.Via, e.Err = strings.Clone(e.NodeID), strings.Clone(e.Host), strings.Clone(e.Via), strings.Clone(e.Err)
	}
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
	buf []byte // the line being written, kept for the next
}

// NewEventWriter returns an EventWriter on w whose lines and errors are redacted
// with red.
func NewEventWriter(w io.Writer, red *redact.Redactor) *EventWriter {
	return &EventWriter{w: w, red: red}
}

// maxKeptLine is the longest line buffer an EventWriter keeps between events.
const maxKeptLine = 16 << 10

// Emit writes ev as one line. An event relayed from a child (decoded by
// ReadEvents) goes up as the line it came in: the child redacted it with the
// same secrets, since every node gets the root's. After the first write error
// it drops events (the parent that reads them is gone) and Err reports that
// error.
func (ew *EventWriter) Emit(ev Event) {
	if ev.raw == "" {
		// Before encoding: JSON escapes would hide a secret with quotes in it.
		ev.Line, ev.Err = ew.red.String(ev.Line), ew.red.String(ev.Err)
	}
	ew.mu.Lock()
	defer ew.mu.Unlock()
	if ew.err != nil {
		return
	}
	b := ew.buf[:0]
	if ev.raw != "" {
		b = append(b, ev.raw...)
	} else if b2, ok := appendEvent(b, ev); ok {
		b = b2
	} else if j, err := json.Marshal(ev); err == nil {
		b = append(b, j...)
	} else {
		b = fmt.Appendf(b, `{"type":"output","line":%q}`, "grifork: cannot encode event: "+err.Error())
	}
	b = append(b, '\n')
	if _, err := ew.w.Write(b); err != nil {
		ew.err = err
	}
	if cap(b) <= maxKeptLine {
		ew.buf = b
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
// The Printer cut its lines to MaxLine already; this writer's own bound is
// looser, so that a prefix and the masks of secrets never cut them again, and
// tight enough that the event, JSON-escaped, stays under maxEventLine.
func (ew *EventWriter) OutputWriter(n *Node, stream string) io.WriteCloser {
	return lines.NewPieces(maxEventLine/8, func(line string, _ bool) {
		ew.Emit(Event{Type: EventOutput, NodeID: n.ID, Host: n.Name(), Line: line, Stream: stream})
	}, nil, nil)
}

// maxEventLine bounds one event line; task output lines longer than that are
// unusual enough that cutting the stream with an error is acceptable.
const maxEventLine = 4 << 20

// eventReadBuffer is what ReadEvents starts reading with: a node reads one
// stream per child, and events are short (longer lines grow it, up to
// maxEventLine).
const eventReadBuffer = 4 << 10

// ReadEvents decodes JSON-line events from r and calls fn for each, one at a
// time, until EOF (nil) or a read error. It reads the next line only once fn
// has returned, so a consumer that is slow slows the writer (through the pipe or
// the SSH channel's window) instead of piling events up in memory. A line that
// is not an event (a stray print of a remote shell profile, say) is passed on as
// an output event of from, so nothing a node says gets lost.
func ReadEvents(r io.Reader, from *Node, fn func(Event)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, eventReadBuffer), maxEventLine)
	for sc.Scan() {
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		line := string(b) // the event's strings are parts of it
		ev, err := decodeEvent(line)
		if err != nil || ev.Type == "" {
			fn(Event{Type: EventOutput, NodeID: from.ID, Host: from.Name(), Line: line, Stream: "stdout"})
			continue
		}
		ev.raw = line
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
