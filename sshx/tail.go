package sshx

import (
	"strings"
	"sync"

	"github.com/grifork/grifork/core"
)

// StderrTail formats the last line a command wrote to stderr for an error.
func StderrTail(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

// TailWriter emits every line written to it and remembers the last one that
// is not blank.
type TailWriter struct {
	*core.LineWriter
	mu   sync.Mutex
	tail string
}

func NewTailWriter(emit func(string)) *TailWriter {
	w := &TailWriter{}
	w.LineWriter = core.NewLineWriter(func(s string) {
		if strings.TrimSpace(s) != "" {
			w.mu.Lock()
			w.tail = s
			w.mu.Unlock()
		}
		emit(s)
	})
	return w
}

// Last is the last line that was not blank.
func (w *TailWriter) Last() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tail
}
