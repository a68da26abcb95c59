package sshx

import (
	"strings"
	"sync"

	"github.com/grifork/grifork/internal/lines"
)

// causes are what rsync and ssh say when they name why they failed. They say
// it early and then more (rsync: "Broken pipe (32)", "unexplained error (code
// 255)"), so the first line holding one is the reason of a failure.
var causes = []string{
	"No space left on device",
	"Disk quota exceeded",
	"Read-only file system",
	"host key is known for", // OpenSSH: an unknown key, before "Host key verification failed."
	"Host key verification failed",
	"REMOTE HOST IDENTIFICATION HAS CHANGED",
	"Permission denied",
	"Connection refused",
	"Connection timed out",
	"Connection reset",
	"closed by remote host",        // OpenSSH: the host ended the connection (sshd killed)
	"client_loop: send disconnect", // OpenSSH: the connection broke on the way
	"No route to host",
	"Could not resolve hostname",
	"No such file or directory",
	"command not found",
	"Too many authentication failures",
	RshName + ": ", // grifork's relay for rsync says only why it could not run the command
}

// tailLines is how many last lines stand for the reason when no line names a
// cause.
const tailLines = 3

func isCause(line string) bool {
	for _, c := range causes {
		if strings.Contains(line, c) {
			return true
		}
	}
	return false
}

// reasonOf is the reason that lines give for a failure, in one line: the first
// that names a cause, else the last few that are not blank.
func reasonOf(lines []string) string {
	var last []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
		case isCause(l):
			return l
		default:
			last = append(last, l)
		}
	}
	if len(last) > tailLines {
		last = last[len(last)-tailLines:]
	}
	return strings.Join(last, "; ")
}

// StderrTail formats what a command wrote to stderr (s) for an error: its
// reason (see TailWriter.Reason), after ": ".
func StderrTail(s string) string {
	if r := reasonOf(strings.Split(s, "\n")); r != "" {
		return ": " + r
	}
	return ""
}

// TailWriter emits every line written to it and keeps what makes the reason
// of a failure: the first line that names a cause, and the last lines that are
// not blank.
type TailWriter struct {
	*lines.Writer
	mu    sync.Mutex
	cause string
	tail  []string // the last tailLines lines that are not blank
}

func NewTailWriter(emit func(string)) *TailWriter {
	w := &TailWriter{}
	w.Writer = lines.New(func(s string) {
		if t := strings.TrimSpace(s); t != "" {
			w.mu.Lock()
			if w.cause == "" && isCause(t) {
				w.cause = t
			}
			w.tail = append(w.tail, s)
			if len(w.tail) > tailLines {
				w.tail = w.tail[1:]
			}
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
	if len(w.tail) == 0 {
		return ""
	}
	return w.tail[len(w.tail)-1]
}

// Reason is the reason of a failure in one line: the first line that named a
// cause ("No space left on device", "Host key verification failed.", ...),
// else the last few lines.
func (w *TailWriter) Reason() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cause != "" {
		return w.cause
	}
	return reasonOf(w.tail)
}
