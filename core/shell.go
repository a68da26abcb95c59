package core

import (
	"io"
	"strings"
)

// ShellQuote quotes s for a POSIX shell so that it stays one word of data.
func ShellQuote(s string) string {
	if s != "" && shellSafe(s) {
		return s
	}
	var b strings.Builder
	writeQuoted(&b, s)
	return b.String()
}

// ShellJoin quotes each of args and joins them with spaces.
func ShellJoin(args []string) string {
	// Into one buffer, not a string per word and another to join them: every
	// rsync of a plan is quoted, some twice (a remote one and its plan line).
	n := 0
	for _, a := range args {
		n += len(a) + 3
	}
	var b strings.Builder
	b.Grow(n)
	writeShellJoin(&b, args)
	return b.String()
}

// shellWriter is what the quoting writes to: a strings.Builder, or a plan's
// bufio.Writer, which then needs no string of the line.
type shellWriter interface {
	io.ByteWriter
	io.StringWriter
}

// writeShellJoin writes ShellJoin(args) to b.
func writeShellJoin(b shellWriter, args []string) {
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && shellSafe(a) {
			b.WriteString(a)
			continue
		}
		writeQuoted(b, a)
	}
}

// writeQuoted writes s in single quotes, each quote in it closed, escaped and reopened.
func writeQuoted(b shellWriter, s string) {
	b.WriteByte('\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(`'\''`)
		s = s[i+1:]
	}
	b.WriteString(s)
	b.WriteByte('\'')
}

// shellSafe reports whether s is only bytes a shell takes as data as they are.
func shellSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if !shellSafeByte[s[i]] {
			return false
		}
	}
	return true
}

// shellSafeByte holds the bytes shellSafe takes (no byte of a non-ASCII rune).
var shellSafeByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-_./=:,+@%" {
		t[c] = true
	}
	return t
}()
