package sim

import (
	"io"
	"sync"
)

// pipeSize bounds what a child's events may run ahead of its parent's reading,
// as an SSH channel's window does (a real one is larger; here every node's pipe
// lives in one process).
const pipeSize = 4 << 10

// pipe is the sim's SSH channel between a child's grifork and its parent: a
// buffer of pipeSize bytes. A writer blocks while it is full, so a slow reader
// slows the writer and nothing piles up; unlike io.Pipe, whose writer waits for
// the reader at every write, a reader takes many events per wake-up.
type pipe struct {
	mu   sync.Mutex
	cond sync.Cond
	buf  []byte // unread bytes are buf[r:]
	r    int
	werr error // the writer closed: io.EOF once the rest is read
	rerr error // the reader closed: writes fail with it
}

func newPipe() *pipe {
	p := &pipe{buf: make([]byte, 0, pipeSize)}
	p.cond.L = &p.mu
	return p
}

// Write copies b into the buffer as room frees up.
func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for len(b) > 0 {
		for p.rerr == nil && p.werr == nil && len(p.buf) == cap(p.buf) && p.r == 0 {
			p.cond.Wait()
		}
		switch {
		case p.rerr != nil:
			return n, p.rerr
		case p.werr != nil:
			return n, io.ErrClosedPipe
		}
		if len(p.buf) == cap(p.buf) { // room at the front only: move the rest there
			p.buf = p.buf[:copy(p.buf, p.buf[p.r:])]
			p.r = 0
		}
		c := min(len(b), cap(p.buf)-len(p.buf))
		p.buf = append(p.buf, b[:c]...)
		b, n = b[c:], n+c
		p.cond.Broadcast()
	}
	return n, nil
}

// Read takes what the buffer holds, waiting for at least one byte.
func (p *pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.r == len(p.buf) && p.werr == nil && p.rerr == nil {
		p.cond.Wait()
	}
	if p.rerr != nil {
		return 0, io.ErrClosedPipe
	}
	if p.r == len(p.buf) {
		return 0, p.werr
	}
	n := copy(b, p.buf[p.r:])
	if p.r += n; p.r == len(p.buf) {
		p.buf, p.r = p.buf[:0], 0
	}
	p.cond.Broadcast()
	return n, nil
}

// CloseWrite ends the stream: the reader gets EOF after the rest.
func (p *pipe) CloseWrite() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.werr == nil {
		p.werr = io.EOF
	}
	p.cond.Broadcast()
}

// CloseRead makes writes fail with err from now on.
func (p *pipe) CloseRead(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rerr == nil {
		p.rerr = err
	}
	p.cond.Broadcast()
}
