package core

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Printer is the one writer of remote and task output: every line gets a prefix
// (usually the host) and lines from concurrent tasks never interleave. Secrets are
// replaced before anything is written.
type Printer struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string
}

// NewPrinter returns a Printer writing to w that redacts secrets.
func NewPrinter(w io.Writer, secrets []string) *Printer {
	return &Printer{w: w, secrets: secrets}
}

// Line writes one line as "prefix | line".
func (p *Printer) Line(prefix, line string) {
	line = Redact(strings.TrimRight(line, "\r\n"), p.secrets)
	p.mu.Lock()
	defer p.mu.Unlock()
	if prefix == "" {
		fmt.Fprintln(p.w, line)
		return
	}
	fmt.Fprintf(p.w, "%s | %s\n", prefix, line)
}

// Writer returns a writer that prints each complete line with prefix; Close
// flushes a last line without a newline. Each Writer is for one stream.
func (p *Printer) Writer(prefix string) io.WriteCloser {
	return &lineWriter{p: p, prefix: prefix}
}

type lineWriter struct {
	p      *Printer
	prefix string
	buf    []byte
}

func (lw *lineWriter) Write(b []byte) (int, error) {
	lw.buf = append(lw.buf, b...)
	for {
		i := bytes.IndexByte(lw.buf, '\n')
		if i < 0 {
			break
		}
		lw.p.Line(lw.prefix, string(lw.buf[:i]))
		lw.buf = lw.buf[i+1:]
	}
	return len(b), nil
}

func (lw *lineWriter) Close() error {
	if len(lw.buf) > 0 {
		lw.p.Line(lw.prefix, string(lw.buf))
		lw.buf = nil
	}
	return nil
}

// Redact replaces every secret in s with "[REDACTED]".
func Redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}
