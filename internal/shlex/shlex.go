// Package shlex splits a line into words as Python's shlex.split does for the
// quoting that ClusterShell's groups.conf and Ansible's INI inventories use:
// blanks separate, quotes group, a backslash escapes (outside single quotes),
// and with comments a "#" at a word's start ends the line.
package shlex

import (
	"errors"
	"strings"
)

// Split splits s into words; comments makes a "#" at a word's start end the line.
func Split(s string, comments bool) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, escaped := false, false
	var quote rune
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' {
				escaped = true
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, in = true, true
		case r == '\'' || r == '"':
			quote, in = r, true
		case comments && r == '#' && !in:
			return words, nil
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("no closing quotation")
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
