package sshx

import (
	"bytes"
	"strings"
	"sync"
)

// stderrTail formats the last line a command wrote to stderr for an error.
func stderrTail(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

// tailWriter emits every line written to it and remembers the last one.
type tailWriter struct {
	mu   sync.Mutex
	emit func(string)
	buf  []byte
	tail string
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *tailWriter) line(s string) {
	s = strings.TrimRight(s, "\r")
	if strings.TrimSpace(s) != "" {
		w.tail = s
	}
	w.emit(s)
}

// Close emits a last line without a newline.
func (w *tailWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
	return nil
}

func (w *tailWriter) last() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tail
}
