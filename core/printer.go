package core

import (
	"bytes"
	"io"
	"strings"
	"sync"

	"github.com/grifork/grifork/redact"
)

// Printer is the one writer of remote and task output: every line gets a prefix
// (usually the host) and lines from concurrent tasks never interleave. Secrets are
// replaced before anything is written.
type Printer struct {
	mu     sync.Mutex
	w      io.Writer
	tees   []io.Writer
	red    *redact.Redactor
	gather map[string]*strings.Builder // Gather: each prefix's lines, for WriteGathered
}

// NewPrinter returns a Printer writing to w that redacts with red (nil: nothing).
func NewPrinter(w io.Writer, red *redact.Redactor) *Printer {
	return &Printer{w: w, red: red}
}

// SetOutput makes p write to w from now on (a live status line takes the
// console while a run goes, and gives it back).
func (p *Printer) SetOutput(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w = w
}

// SetRedactor makes p redact every later line with red (the secrets are known
// only once the Griforkfile that the printer's first lines came from is loaded).
func (p *Printer) SetRedactor(red *redact.Redactor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.red = red
}

// Tee sends every later line to w as well (a log file, say). Each line reaches w
// in one Write call.
func (p *Printer) Tee(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tees = append(p.tees, w)
}

// Queue makes later lines reach the printer's writer through a QueueWriter of n
// lines: a slow terminal then drops lines (and says how many) rather than
// holding up the tasks and the scheduler that print. The function returned
// writes what is queued and goes back to writing directly: call it before
// writing to the same terminal other than through the printer.
func (p *Printer) Queue(n int) (unqueue func() error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	direct := p.w
	q := NewQueueWriter(direct, n, "lines of output")
	p.w = q
	return func() error {
		// Under the lock, so that no line overtakes those still queued.
		p.mu.Lock()
		defer p.mu.Unlock()
		p.w = direct
		return q.Close()
	}
}

// Line writes one line as "prefix | line".
func (p *Printer) Line(prefix, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line = p.red.String(strings.TrimRight(line, "\r\n"))
	if p.gather != nil && prefix != "" {
		p.collect(prefix, line)
		return
	}
	if prefix != "" {
		line = prefix + " | " + line
	}
	line += "\n"
	io.WriteString(p.w, line)
	for _, t := range p.tees {
		io.WriteString(t, line)
	}
}

// Writer returns a writer that prints each complete line with prefix; Close
// flushes a last line without a newline.
func (p *Printer) Writer(prefix string) *LineWriter {
	return NewLineWriter(func(line string) { p.Line(prefix, line) })
}

// LineWriter calls emit with every complete line written to it, without its
// line ending; Close emits a last line that has no newline. It is safe for
// concurrent use (emit is called under its lock), but it is meant for one
// stream: lines written by several writers at once would mix.
type LineWriter struct {
	mu   sync.Mutex
	emit func(string)
	buf  []byte
}

// NewLineWriter returns a LineWriter that calls emit.
func NewLineWriter(emit func(line string)) *LineWriter { return &LineWriter{emit: emit} }

func (lw *LineWriter) Write(b []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.buf = append(lw.buf, b...)
	for {
		i := bytes.IndexByte(lw.buf, '\n')
		if i < 0 {
			break
		}
		lw.emit(strings.TrimRight(string(lw.buf[:i]), "\r"))
		lw.buf = lw.buf[i+1:]
	}
	return len(b), nil
}

// Close emits what is left after the last newline, if anything.
func (lw *LineWriter) Close() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if len(lw.buf) > 0 {
		lw.emit(strings.TrimRight(string(lw.buf), "\r"))
		lw.buf = nil
	}
	return nil
}
