package ruby

import (
	"fmt"
	"strings"
)

// Error is a conversion error located in the Ruby source.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

func errorf(file string, line int, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Convert translates the Ruby Griforkfile src (named name in messages) to Lua.
// The returned error, if any, is an *Error.
func Convert(name string, src []byte) (out []byte, err error) {
	defer func() {
		// Last line of defence: a converter bug must not crash grifork.
		if r := recover(); r != nil {
			out, err = nil, errorf(name, 1, "internal error converting Ruby Griforkfile: %v (please report; convert this file by hand)", r)
		}
	}()
	lx := newLexer(name, src)
	lx.lexAll()
	if lx.err != nil {
		return nil, lx.err
	}
	p := newParser(name, lx)
	body := p.parseProgram()
	if p.err != nil {
		return nil, p.err
	}
	w := &writer{src: src, comments: lx.comments, notes: p.notes}
	var pre frag
	if p.needExpand {
		pre = append(pre, piece{1, expandPathHelper + " "})
	}
	return []byte(w.render(append(pre, body...), name)), nil
}

// expandPathHelper mirrors Ruby's File.expand_path(path, dir = Dir.pwd): "~"
// and "~/" expand to $HOME, relative paths are taken from dir or $PWD, "." and
// ".." segments and repeated slashes are removed. "~user" is an error, as Ruby
// without that user would give one. It is kept on one line so that the Lua
// lines stay aligned with the Ruby ones.
const expandPathHelper = `local function expand_path__(p, dir) ` +
	`if p:sub(1, 1) == "~" then if #p > 1 and p:sub(2, 2) ~= "/" then error("File.expand_path: ~user is not supported: " .. p, 2) end ` +
	`p = (os.getenv("HOME") or error("File.expand_path: HOME is not set", 2)) .. p:sub(2) ` +
	`elseif p:sub(1, 1) ~= "/" then p = (dir and expand_path__(dir) or os.getenv("PWD") or error("File.expand_path: PWD is not set", 2)) .. "/" .. p end ` +
	`local out = {} for seg in p:gmatch("[^/]+") do if seg == ".." then out[#out] = nil elseif seg ~= "." then out[#out + 1] = seg end end ` +
	`return "/" .. table.concat(out, "/") end`

// piece is Lua text that belongs on a line of the output (line 0: wherever the
// writer currently is).
type piece struct {
	line int
	text string
}

type frag []piece

func (f frag) add(line int, text string) frag { return append(f, piece{line, text}) }

// flat keeps the text but lets it flow onto the current line.
func (f frag) flat() frag {
	out := make(frag, len(f))
	for i, p := range f {
		out[i] = piece{0, p.text}
	}
	return out
}

func (f frag) firstLine() int {
	for _, p := range f {
		if p.line > 0 {
			return p.line
		}
	}
	return 0
}

// writer lays pieces out so that each lands on its Ruby line, re-using the Ruby
// indentation and putting comments back at the end of their lines.
type writer struct {
	src      []byte
	comments map[int]string
	notes    map[int][]string
	lines    []string
	sb       strings.Builder
	cur      int
	bare     bool // nothing but indentation on the current line yet
}

func (w *writer) render(f frag, name string) string {
	w.lines = strings.Split(string(w.src), "\n")
	n := len(w.lines)
	if n > 1 && w.lines[n-1] == "" {
		n-- // a trailing newline does not start another line
	}
	w.cur = 1
	w.startLine()
	for _, p := range f {
		if p.line > w.cur {
			w.advance(p.line)
		}
		text := p.text
		if w.bare {
			text = strings.TrimLeft(text, " ")
		}
		if text == "" {
			continue
		}
		w.sb.WriteString(text)
		w.bare = false
	}
	w.advance(n)
	w.endLine()
	fmt.Fprintf(&w.sb, "-- Converted from the Ruby Griforkfile %s by grifork convert; line N of this file is line N of the Ruby one.\n", luaCommentText(name))
	return w.sb.String()
}

func (w *writer) advance(to int) {
	for w.cur < to {
		w.endLine()
		w.cur++
		w.startLine()
	}
}

func (w *writer) startLine() {
	indent := ""
	if w.cur-1 < len(w.lines) {
		l := w.lines[w.cur-1]
		i := 0
		for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
			i++
		}
		indent = l[:i]
	}
	w.sb.WriteString(indent)
	w.bare = true
}

func (w *writer) endLine() {
	cs := append([]string(nil), w.notes[w.cur]...)
	if c, ok := w.comments[w.cur]; ok {
		cs = append(cs, c)
	}
	if !w.bare || len(cs) == 0 {
		s := strings.TrimRight(w.sb.String(), " \t")
		w.sb.Reset()
		w.sb.WriteString(s)
		if len(cs) > 0 {
			w.sb.WriteString(" ")
		}
	}
	for i, c := range cs {
		c = luaCommentText(c)
		if strings.HasPrefix(c, "[") {
			c = " " + c // "--[" would open a long comment
		}
		if i > 0 {
			w.sb.WriteString(" ")
		}
		w.sb.WriteString("--" + c)
	}
	w.sb.WriteString("\n")
}

// luaCommentText removes what would end a Lua line comment early (any CR or LF
// counts as a line break for the Lua scanner).
func luaCommentText(s string) string {
	return strings.NewReplacer("\r", "", "\n", " ").Replace(s)
}
