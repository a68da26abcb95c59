package dsl

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/grifork/grifork/core"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Source is one Griforkfile. Name is how errors call it (FILE:LINE).
type Source struct {
	Name    string
	Content []byte
}

// ReadSource reads the Griforkfile at path; errors name it by path.
func ReadSource(path string) (Source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Source{}, fmt.Errorf("read Griforkfile: %w", err)
	}
	return Source{Name: path, Content: b}, nil
}

// Error is a problem in a Griforkfile found while loading it: a Lua syntax or
// runtime error of the top level, or a misuse of the DSL. Its text is one line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// TaskError is the failure of one task block. Msg is the Lua error, which starts
// with the FILE:LINE where it was raised; Err is the Go error behind it (a
// failed command from core.Exec, a cancelled context), nil for a plain Lua error.
type TaskError struct {
	Block core.Block
	Src   string
	Dst   string // empty for tasks that run on one node
	Msg   string
	Err   error
}

func (e *TaskError) Error() string {
	switch {
	case e.Dst != "":
		return fmt.Sprintf("%s %s -> %s: %s", e.Block, e.Src, e.Dst, e.Msg)
	case e.Src != "":
		return fmt.Sprintf("%s on %s: %s", e.Block, e.Src, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Block, e.Msg)
}

func (e *TaskError) Unwrap() error { return e.Err }

// Reason is the error without the block and hosts, for a report that names them.
func (e *TaskError) Reason() string { return e.Msg }

const localHint = `the local block is called "locally" in a Griforkfile.lua`

// localCall matches a line that uses `local` as if it were the block of the Ruby DSL.
var localCall = regexp.MustCompile(`(^|[^\w.])local\s*[({"']`)

// syntaxError turns a parse error of src into an *Error, with the hint about
// `locally` when the offending line calls `local` like a function.
func syntaxError(src Source, err error) *Error {
	var pe *parse.Error
	if !errors.As(err, &pe) {
		return &Error{File: src.Name, Msg: firstLine(err.Error())}
	}
	e := &Error{File: src.Name, Line: pe.Pos.Line, Msg: pe.Message}
	if pe.Pos.Line == parse.EOF {
		e.Line = countLines(src.Content)
		e.Msg += " at end of file"
	} else if pe.Token != "" {
		// Escaped: a malformed number's token may end in the newline that ended it.
		q := strconv.Quote(pe.Token)
		e.Msg += " near '" + q[1:len(q)-1] + "'"
	}
	for _, l := range []int{e.Line, e.Line - 1} {
		if localCall.MatchString(sourceLine(src.Content, l)) {
			e.Msg += " (" + localHint + ")"
			break
		}
	}
	return e
}

// runtimeError turns an error from running a chunk into an *Error. Lua puts the
// position in front of the message ("FILE:LINE: msg"); when it is missing (an
// error value without position), the first frame of a known file in the stack
// trace gives it.
func runtimeError(err error, files []string, fallback string) *Error {
	msg := err.Error()
	trace := ""
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		msg = errorValue(ae.Object)
		trace = ae.StackTrace
	}
	msg = firstLine(msg)
	for _, f := range files {
		if line, rest, ok := splitPos(msg, f); ok {
			return &Error{File: f, Line: line, Msg: rest}
		}
	}
	for _, tl := range strings.Split(trace, "\n") {
		tl = strings.TrimSpace(tl)
		for _, f := range files {
			if line, _, ok := splitPos(tl, f); ok {
				return &Error{File: f, Line: line, Msg: msg}
			}
		}
	}
	return &Error{File: fallback, Msg: msg}
}

// errorValue is the text of a Lua error value; error() with a table or other
// non-string value says what it was given, not where it lives in memory.
func errorValue(v lua.LValue) string {
	switch v.Type() {
	case lua.LTString, lua.LTNumber:
		return lua.LVAsString(v)
	}
	return "error raised with a " + v.Type().String() + " value"
}

// splitPos splits "FILE:LINE: rest" for a known FILE.
func splitPos(s, file string) (int, string, bool) {
	if !strings.HasPrefix(s, file+":") {
		return 0, "", false
	}
	s = s[len(file)+1:]
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return 0, "", false
	}
	line, err := strconv.Atoi(s[:i])
	if err != nil {
		return 0, "", false
	}
	return line, strings.TrimSpace(s[i+1:]), true
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

func sourceLine(b []byte, n int) string {
	if n < 1 {
		return ""
	}
	lines := luaLines(b)
	if n > len(lines) {
		return ""
	}
	return lines[n-1]
}

// luaLines splits b into lines as Lua's lexer counts them: "\n", "\r", "\r\n"
// and "\n\r" each end one line, so error positions and the lines shown agree.
func luaLines(b []byte) []string {
	var lines []string
	start := 0
	for i := 0; i < len(b); i++ {
		if c := b[i]; c == '\n' || c == '\r' {
			lines = append(lines, string(b[start:i]))
			if i+1 < len(b) && (b[i+1] == '\n' || b[i+1] == '\r') && b[i+1] != c {
				i++
			}
			start = i + 1
		}
	}
	return append(lines, string(b[start:]))
}

func countLines(b []byte) int {
	lines := luaLines(b)
	if len(lines) > 1 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1] // a last line break ends the last line
	}
	return max(len(lines), 1)
}
