package sshx

import (
	"strings"
	"sync"

	"github.com/grifork/grifork/core"
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

// tailWriter emits every line written to it and remembers the last one that
// is not blank.
type tailWriter struct {
	*core.LineWriter
	mu   sync.Mutex
	tail string
}

func newTailWriter(emit func(string)) *tailWriter {
	w := &tailWriter{}
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

func (w *tailWriter) last() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tail
}
