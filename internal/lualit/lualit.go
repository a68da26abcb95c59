// Package lualit writes Lua literals: the one writer of the Lua source that
// grifork generates (the ad-hoc commands' Griforkfiles, the Ruby converter), so
// every string is escaped the same way and reads back byte for byte.
package lualit

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// String writes s as a double-quoted Lua string literal that the Lua scanner
// reads back byte for byte: quotes and backslashes escaped, \n \t \r by name
// (no raw line break, which would also shift the line count), other control
// bytes and bytes of invalid UTF-8 as three-digit decimal escapes (three
// digits, so a digit after one is not read as part of it).
func String(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f:
			decimal(&b, c)
		case c >= 0x80:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				decimal(&b, c)
				break
			}
			b.WriteString(s[i : i+n])
			i += n
			continue
		default:
			b.WriteByte(c)
		}
		i++
	}
	b.WriteByte('"')
	return b.String()
}

func decimal(b *strings.Builder, c byte) {
	b.WriteByte('\\')
	b.WriteByte('0' + c/100)
	b.WriteByte('0' + c/10%10)
	b.WriteByte('0' + c%10)
}

// List writes ss as a Lua array of strings: { "a", "b" }.
func List(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = String(s)
	}
	return "{ " + strings.Join(q, ", ") + " }"
}

// Seconds writes d as a number of seconds, fractions included.
func Seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }
