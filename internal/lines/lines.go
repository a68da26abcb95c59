package lines

import (
	"bytes"
	"sync"
)

// Max is the longest piece of a line a Writer from New emits at once (64 KiB):
// it bounds what a line of output holds in memory (a command printing 50 MB
// without a newline).
const Max = 64 << 10

// Writer calls emit with every complete line written to it, without its
// newline; Close emits a last line that has no newline. A line longer than its
// maximum (Max for New) is emitted in pieces of at most that many bytes, so it
// holds no more than that much of a line. It is safe for concurrent use (emit
// is called under its lock), but it is meant for one stream: lines written by
// several writers at once would mix.
type Writer struct {
	mu        sync.Mutex
	emit      func(text string, cont bool) // cont: text continues the previous piece
	max       int
	cut       func(s string, n int) int // where to cut s at or before n; nil: at n
	lookahead func() int                // how many bytes past n cut needs
	buf       []byte
	cont      bool // the next piece continues a cut line
}

// New returns a Writer that calls emit with each line, or with each piece of a
// line longer than Max.
func New(emit func(line string)) *Writer {
	return NewPieces(Max, func(s string, _ bool) { emit(s) }, nil, nil)
}

// NewPieces returns a Writer that cuts lines longer than max into pieces and
// tells emit whether a piece continues the previous one (cont). cut, if not
// nil, chooses where to cut s at or before n (where no secret spans the cut);
// it is given lookahead() bytes past n when there are that many.
func NewPieces(max int, emit func(text string, cont bool), cut func(s string, n int) int, lookahead func() int) *Writer {
	return &Writer{emit: emit, max: max, cut: cut, lookahead: lookahead}
}

func (lw *Writer) Write(b []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.buf = append(lw.buf, b...)
	look := -1 // asked of the printer (under its lock) only for a long line
	start := 0
	for {
		rest := lw.buf[start:]
		i := bytes.IndexByte(rest, '\n')
		if i >= 0 && i <= lw.max {
			lw.send(string(rest[:i]), false)
			start += i + 1
			continue
		}
		if look < 0 {
			look = lw.look()
		}
		end := len(rest) // of what is there of the line
		if i >= 0 {
			end = i
		} else if end < lw.max+look {
			break // the line may still end, or has too little past a cut
		}
		start += lw.piece(rest[:end], look)
	}
	lw.buf = lw.buf[:copy(lw.buf, lw.buf[start:])]
	if cap(lw.buf) > 4*(lw.max+max(look, 0)) && len(lw.buf) < lw.max {
		lw.buf = append([]byte(nil), lw.buf...) // a burst grew it: let it go
	}
	return len(b), nil
}

// look is how many bytes past lw.max a cut needs to see.
func (lw *Writer) look() int {
	if lw.lookahead == nil {
		return 0
	}
	return lw.lookahead()
}

// piece emits the first piece of line, which is longer than lw.max and holds
// look bytes past it (or all there is of it), and returns its length.
func (lw *Writer) piece(line []byte, look int) int {
	n := lw.max
	if lw.cut != nil {
		n = lw.cut(string(line[:min(len(line), lw.max+look)]), lw.max)
	}
	lw.send(string(line[:n]), true)
	return n
}

// send emits text; more: the line goes on after it.
func (lw *Writer) send(text string, more bool) {
	lw.emit(text, lw.cont)
	lw.cont = more
}

// Close emits what is left after the last newline, if anything.
func (lw *Writer) Close() error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	start := 0
	if len(lw.buf) > lw.max {
		look := lw.look()
		for len(lw.buf)-start > lw.max {
			start += lw.piece(lw.buf[start:], look)
		}
	}
	if len(lw.buf) > start {
		lw.send(string(lw.buf[start:]), false)
	}
	lw.buf, lw.cont = nil, false
	return nil
}
