package output

import (
	"io"
	"sync"

	"github.com/grifork/grifork/internal/lines"
	"github.com/grifork/grifork/redact"
)

// MaxLine is the longest piece of a line the printer writes at once: a longer
// line comes out in pieces of at most MaxLine bytes, each piece after the first
// marked by ContinueSep instead of " | ". It bounds what a line of output can
// hold in memory (a command printing 50 MB without a newline).
const MaxLine = lines.Max

// Separators between a prefix and its text: a line (or its first piece), and a
// piece that continues the previous one of the same prefix.
const (
	LineSep     = " | "
	ContinueSep = " |+ "
)

// Printer is the one writer of remote and task output: every line gets a prefix
// (usually the host) and lines from concurrent tasks never interleave. Secrets are
// replaced before anything is written. Bytes pass through as they came, a
// carriage return included; only the prefix is added.
type Printer struct {
	mu     sync.Mutex
	w      io.Writer
	q      *outputQueue // Queue: w's queue, nil when writing directly
	tees   []io.Writer
	red    *redact.Redactor
	gather *gatherStore // Gather: each prefix's output, for WriteGathered
	line   []byte       // the line being formatted, reused
}

// NewPrinter returns a Printer writing to w that redacts with red (nil: nothing).
func NewPrinter(w io.Writer, red *redact.Redactor) *Printer {
	return &Printer{w: w, red: red}
}

// SetOutput makes p write to w from now on (a live status line takes the
// console while a run goes, and gives it back). What is queued is written to
// the previous writer first.
func (p *Printer) SetOutput(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.q != nil {
		p.q.setWriter(w)
		return
	}
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

// Queue makes later lines reach the printer's writer through a queue of
// QueueBytes, written by a goroutine of its own in as few writes as it can (a
// line per write syscall cannot keep up with a fleet printing at full speed).
// When the queue is full, a line waits for room: a slow reader slows the
// commands that print, down to the SSH flow control of each session, and
// nothing is lost. With sample (a terminal, which a person reads) the line is
// dropped and counted instead, so that a slow terminal never holds the run
// up; the count goes to notes when the queue closes. The function returned
// writes what is queued and goes back to writing directly (call it before
// writing to the same output other than through the printer); it returns the
// first error writing met, after which the queue discards what it gets.
func (p *Printer) Queue(sample bool, notes io.Writer) (unqueue func() error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := newOutputQueue(p.w, sample)
	p.q = q
	return func() error {
		// Under the lock, so that no line overtakes those still queued.
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.q != q {
			return nil
		}
		p.q, p.w = nil, q.close()
		return q.result(notes)
	}
}

// Line writes one line as "prefix | line"; a line longer than MaxLine is
// written in pieces.
func (p *Printer) Line(prefix, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cont := false
	for len(line) > MaxLine {
		n := p.red.Cut(line[:min(len(line), MaxLine+p.red.Lookahead())], MaxLine)
		p.piece(prefix, line[:n], cont)
		line, cont = line[n:], true
	}
	p.piece(prefix, line, cont)
}

// cut and lookahead let a lines.Writer cut a long line where no secret spans the
// cut.
func (p *Printer) cut(s string, n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.red.Cut(s, n)
}

func (p *Printer) lookahead() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.red.Lookahead()
}

// piece writes text, a line or a piece of one (cont: it continues the
// previous piece of prefix), redacted; p.mu is held.
func (p *Printer) piece(prefix, text string, cont bool) {
	text = p.red.String(text)
	b := p.line[:0]
	if prefix != "" {
		sep := LineSep
		if cont {
			sep = ContinueSep
		}
		b = append(append(b, prefix...), sep...)
	}
	b = append(append(b, text...), '\n')
	if cap(b) <= 2*MaxLine {
		p.line = b
	}
	for _, t := range p.tees {
		t.Write(b)
	}
	if p.gather != nil && prefix != "" {
		p.gather.add(prefix, text, cont)
		return
	}
	p.write(b)
}

// write writes one formatted line; p.mu is held.
func (p *Printer) write(b []byte) {
	if p.q != nil {
		p.q.write(b)
		return
	}
	p.w.Write(b) // nowhere to report a console's error: the run goes on
}

// Writer returns a writer that prints each complete line with prefix; Close
// flushes a last line without a newline. A line longer than MaxLine comes out
// in pieces as soon as MaxLine bytes of it are there, so a stream without
// newlines holds no more than that.
func (p *Printer) Writer(prefix string) io.WriteCloser {
	return lines.NewPieces(MaxLine, func(text string, cont bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.piece(prefix, text, cont)
	}, p.cut, p.lookahead)
}
