package ruby

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF   tokKind = iota
	tNL            // end of a logical line (newline or ';')
	tIdent         // local name, method name or keyword
	tConst         // Capitalised name
	tLabel         // `key:` in a hash or argument list
	tSym           // :name or :"name"
	tStr           // any string literal; parts carry interpolation
	tWords         // %w() / %W() / %i()
	tNum           // integer or float, already in Lua spelling
	tOp            // punctuation
)

// part is a piece of a string literal: either literal text or an interpolated
// expression (its tokens are parsed later by a sub-parser).
type part struct {
	lit    string
	toks   []token
	isExpr bool
	line   int
}

type token struct {
	k     tokKind
	s     string // name, operator, number text or label/symbol name
	line  int
	sp    bool // whitespace before the token
	parts []part
	words [][]part
	nlEnd bool // tNL produced by a real newline (not ';')
	end   int  // line of the closing delimiter of a %w() list
}

// lexer turns Ruby source into tokens. Comments are collected by line so the
// writer can put them back in place.
type lexer struct {
	src      []byte
	pos      int
	line     int
	toks     []token
	comments map[int]string
	depth    int // brace depth while lexing an interpolation
	err      *Error
	file     string
	idents   map[string]bool
}

func newLexer(file string, src []byte) *lexer {
	return &lexer{src: src, line: 1, comments: map[int]string{}, file: file, idents: map[string]bool{}}
}

func (l *lexer) fail(line int, format string, args ...any) {
	if l.err == nil {
		l.err = errorf(l.file, line, format, args...)
	}
}

func (l *lexer) unsupported(line int, what string) {
	l.fail(line, "unsupported Ruby construct: %s (convert this part by hand)", what)
}

func (l *lexer) peekc(off int) byte {
	if l.pos+off < len(l.src) && l.pos+off >= 0 {
		return l.src[l.pos+off]
	}
	return 0
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// valueExpected reports whether, after the tokens so far, the next token starts
// an operand (so `%w(`, `:sym`, `/re/`, `-1` are literals, not operators).
func (l *lexer) valueExpected(spBefore bool) bool {
	if len(l.toks) == 0 {
		return true
	}
	t := l.toks[len(l.toks)-1]
	switch t.k {
	case tNL, tLabel:
		return true
	case tOp:
		return t.s != ")" && t.s != "]" && t.s != "}"
	case tIdent:
		switch t.s {
		case "end", "self", "true", "false", "nil":
			return false
		}
		if keywords[t.s] {
			return true
		}
		// `hosts %w(a b)`: a command name followed by a space, the operand not.
		return spBefore && !isSpace(l.peekc(1))
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0 }

var keywords = map[string]bool{
	"if": true, "unless": true, "else": true, "elsif": true, "end": true, "do": true,
	"then": true, "while": true, "until": true, "for": true, "in": true, "case": true,
	"when": true, "class": true, "def": true, "module": true, "begin": true, "rescue": true,
	"ensure": true, "return": true, "break": true, "next": true, "redo": true, "retry": true,
	"yield": true, "self": true, "nil": true, "true": true, "false": true, "and": true,
	"or": true, "not": true, "alias": true, "undef": true, "defined?": true, "super": true,
	"__FILE__": true, "__LINE__": true, "__dir__": true, "__method__": true, "BEGIN": true, "END": true,
	"lambda": true, "proc": true, "loop": true,
}

var ops = []string{
	"**=", "<=>", "===", "...", "<<=", ">>=", "&&=", "||=",
	"**", "==", "!=", "=~", "!~", "<=", ">=", "<<", ">>", "&&", "||", "..", "&.", "::", "=>", "->",
	"+=", "-=", "*=", "/=", "%=", "|=", "&=", "^=",
	"+", "-", "*", "/", "%", "=", "<", ">", "!", "&", "|", "^", "~", "(", ")", "[", "]", "{", "}",
	",", ".", "?", ":",
}

func (l *lexer) emit(t token) { l.toks = append(l.toks, t) }

// lexAll lexes the whole file.
func (l *lexer) lexAll() {
	l.lex(false)
	l.emit(token{k: tNL, line: l.line})
	l.emit(token{k: tEOF, line: l.line})
}

// lex produces tokens until the end of input or, inside an interpolation, the
// closing brace at depth 0.
func (l *lexer) lex(interp bool) {
	atLineStart := true
	for l.err == nil {
		sp := false
		for l.pos < len(l.src) {
			c := l.src[l.pos]
			if c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' {
				l.pos++
				sp = true
				continue
			}
			if c == '\\' && (l.peekc(1) == '\n' || (l.peekc(1) == '\r' && l.peekc(2) == '\n')) {
				l.pos++
				if l.src[l.pos] == '\r' {
					l.pos++
				}
				l.pos++
				l.line++
				sp = true
				continue
			}
			break
		}
		if l.pos >= len(l.src) {
			if interp {
				l.fail(l.line, "Ruby syntax error: unterminated string interpolation")
			}
			return
		}
		c := l.src[l.pos]
		line := l.line
		if atLineStart && c == '=' && (l.pos == 0 || l.src[l.pos-1] == '\n') && strings.HasPrefix(string(l.src[l.pos:]), "=begin") {
			l.lexBlockComment()
			continue
		}
		if atLineStart && !interp && c == '_' && l.lineIs("__END__") {
			l.lexDataSection()
			return
		}
		atLineStart = false
		switch {
		case c == '\n':
			l.pos++
			l.line++
			atLineStart = true
			l.newline(line)
		case c == '#':
			start := l.pos + 1
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
			l.comments[line] = string(l.src[start:l.pos])
		case c == ';':
			l.pos++
			l.emit(token{k: tNL, line: line, sp: sp})
		case isIdentStart(c):
			l.lexIdent(sp)
		case isDigit(c):
			l.lexNumber(sp)
		case c == '"' || c == '\'':
			l.pos++
			parts := l.lexQuoted(c, 0, c == '"')
			l.emitString(parts, line, sp)
		case c == '`':
			l.unsupported(line, "backtick command")
		case c == '$':
			l.unsupported(line, "global variable")
		case c == '@':
			l.unsupported(line, "instance variable")
		case c == '%' && l.valueExpected(sp) && l.pos+1 < len(l.src):
			l.lexPercent(sp)
		case c == ':' && l.peekc(1) != ':' && (l.peekc(1) == '"' || l.peekc(1) == '\'' || isIdentStart(l.peekc(1))) && (l.valueExpected(sp) || sp):
			l.lexSymbol(sp)
		case c == '/' && l.valueExpected(sp):
			l.unsupported(line, "regular expression")
		case c == '?' && l.valueExpected(sp) && !isSpace(l.peekc(1)):
			l.unsupported(line, "character literal ?x")
		case c == '<' && l.peekc(1) == '<' && l.valueExpected(sp) && (l.peekc(2) == '~' || l.peekc(2) == '-' || l.peekc(2) == '\'' || l.peekc(2) == '"' || isIdentStart(l.peekc(2))):
			l.unsupported(line, "heredoc")
		case c == '{' && interp:
			l.depth++
			l.pos++
			l.emit(token{k: tOp, s: "{", line: line, sp: sp})
		case c == '}' && interp:
			if l.depth == 0 {
				l.pos++
				return
			}
			l.depth--
			l.pos++
			l.emit(token{k: tOp, s: "}", line: line, sp: sp})
		default:
			for _, op := range ops {
				if strings.HasPrefix(string(l.src[l.pos:min(l.pos+3, len(l.src))]), op) {
					l.pos += len(op)
					l.emit(token{k: tOp, s: op, line: line, sp: sp})
					goto next
				}
			}
			if c >= 0x80 {
				r, _ := utf8.DecodeRune(l.src[l.pos:])
				l.fail(line, "unsupported Ruby construct: non-ASCII name or character %q (convert this part by hand)", r)
			} else {
				l.fail(line, "Ruby syntax error: unexpected character %q", rune(c))
			}
		next:
		}
	}
}

func (l *lexer) lineIs(word string) bool {
	end := l.pos
	for end < len(l.src) && l.src[end] != '\n' && l.src[end] != '\r' {
		end++
	}
	return string(l.src[l.pos:end]) == word && (l.pos == 0 || l.src[l.pos-1] == '\n')
}

// newline emits a line break token unless the statement obviously goes on
// (a leading `.method` on the next line).
func (l *lexer) newline(line int) {
	p := l.pos
	for {
		for p < len(l.src) && (l.src[p] == ' ' || l.src[p] == '\t' || l.src[p] == '\r') {
			p++
		}
		if p < len(l.src) && l.src[p] == '\n' {
			p++
			continue
		}
		break
	}
	if p+1 < len(l.src) && l.src[p] == '.' && l.src[p+1] != '.' {
		return
	}
	if p+1 < len(l.src) && l.src[p] == '&' && l.src[p+1] == '.' {
		return
	}
	if n := len(l.toks); n > 0 && l.toks[n-1].k == tNL {
		return
	}
	l.emit(token{k: tNL, line: line, nlEnd: true})
}

// lexBlockComment turns =begin ... =end into one comment per line.
func (l *lexer) lexBlockComment() {
	for l.pos < len(l.src) {
		end := l.pos
		for end < len(l.src) && l.src[end] != '\n' {
			end++
		}
		text := string(l.src[l.pos:end])
		l.comments[l.line] = text
		l.pos = end
		done := strings.HasPrefix(text, "=end")
		if l.pos < len(l.src) {
			l.pos++
			l.line++
		}
		if done {
			return
		}
	}
	l.fail(l.line, "Ruby syntax error: =begin without =end")
}

// lexDataSection keeps everything after __END__ as comments: it is data, not code.
func (l *lexer) lexDataSection() {
	for l.pos < len(l.src) {
		end := l.pos
		for end < len(l.src) && l.src[end] != '\n' {
			end++
		}
		l.comments[l.line] = string(l.src[l.pos:end])
		l.pos = end
		if l.pos < len(l.src) {
			l.pos++
			l.line++
		}
	}
}

func (l *lexer) lexIdent(sp bool) {
	start := l.pos
	line := l.line
	for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
		l.pos++
	}
	// method names may end in ? or ! (nil?, empty?, key?), but `x != y` is an operator.
	if c := l.peekc(0); c == '?' || c == '!' {
		n := l.peekc(1)
		if n != '=' && (c == '!' || !(isIdentChar(n) || n == ':' || n == '"' || n == '\'')) {
			l.pos++
		}
	}
	name := string(l.src[start:l.pos])
	l.idents[name] = true
	// `key: value` (but not `a ? b :c` nor `Foo::Bar`)
	if l.peekc(0) == ':' && l.peekc(1) != ':' && !strings.HasSuffix(name, "?") {
		l.pos++
		l.emit(token{k: tLabel, s: name, line: line, sp: sp})
		return
	}
	k := tIdent
	if name[0] >= 'A' && name[0] <= 'Z' {
		k = tConst
	}
	l.emit(token{k: k, s: name, line: line, sp: sp})
}

func (l *lexer) lexNumber(sp bool) {
	start := l.pos
	line := l.line
	base := 10
	if l.src[l.pos] == '0' && l.pos+1 < len(l.src) {
		switch l.src[l.pos+1] {
		case 'x', 'X':
			base = 16
			l.pos += 2
		case 'b', 'B':
			base = 2
			l.pos += 2
		case 'o', 'O':
			base = 8
			l.pos += 2
		case 'd', 'D':
			l.pos += 2
		default:
			if isDigit(l.src[l.pos+1]) || l.src[l.pos+1] == '_' {
				base = 8
				l.pos++
			}
		}
	}
	digStart := l.pos
	isFloat := false
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '_' || isDigit(c) || (base == 16 && strings.IndexByte("abcdefABCDEF", c) >= 0):
			l.pos++
			continue
		case base == 10 && c == '.' && isDigit(l.peekc(1)) && !isFloat:
			isFloat = true
			l.pos++
			continue
		case base == 10 && (c == 'e' || c == 'E') && (isDigit(l.peekc(1)) || ((l.peekc(1) == '-' || l.peekc(1) == '+') && isDigit(l.peekc(2)))):
			isFloat = true
			l.pos += 2
			continue
		}
		break
	}
	if l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
		l.fail(line, "Ruby syntax error: bad number %q", string(l.src[start:l.pos+1]))
		return
	}
	digits := strings.ReplaceAll(string(l.src[digStart:l.pos]), "_", "")
	if isFloat {
		f, err := strconv.ParseFloat(digits, 64)
		if err != nil {
			l.fail(line, "Ruby syntax error: bad number %q", string(l.src[start:l.pos]))
			return
		}
		l.emit(token{k: tNum, s: strconv.FormatFloat(f, 'g', -1, 64), line: line, sp: sp})
		return
	}
	n, err := strconv.ParseInt(digits, base, 64)
	if err != nil || n > 1<<53 {
		l.fail(line, "unsupported Ruby construct: integer %s (too large or malformed) (convert this part by hand)", string(l.src[start:l.pos]))
		return
	}
	l.emit(token{k: tNum, s: strconv.FormatInt(n, 10), line: line, sp: sp})
}

func (l *lexer) lexSymbol(sp bool) {
	line := l.line
	l.pos++ // ':'
	c := l.src[l.pos]
	if c == '"' || c == '\'' {
		l.pos++
		parts := l.lexQuoted(c, 0, c == '"')
		if l.err != nil {
			return
		}
		if len(parts) > 1 || (len(parts) == 1 && parts[0].isExpr) {
			l.unsupported(line, "interpolated symbol")
			return
		}
		s := ""
		if len(parts) == 1 {
			s = parts[0].lit
		}
		l.emit(token{k: tSym, s: s, line: line, sp: sp})
		return
	}
	start := l.pos
	for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
		l.pos++
	}
	if c := l.peekc(0); (c == '?' || c == '!' || c == '=') && l.peekc(1) != '=' && l.peekc(1) != '>' {
		l.pos++
	}
	l.emit(token{k: tSym, s: string(l.src[start:l.pos]), line: line, sp: sp})
}

func (l *lexer) emitString(parts []part, line int, sp bool) {
	if l.err != nil {
		return
	}
	// "key": value inside a hash
	if l.peekc(0) == ':' && l.peekc(1) != ':' && isSpace(l.peekc(1)) {
		if len(parts) > 1 || (len(parts) == 1 && parts[0].isExpr) {
			l.unsupported(line, "interpolated hash key")
			return
		}
		s := ""
		if len(parts) == 1 {
			s = parts[0].lit
		}
		l.pos++
		l.emit(token{k: tLabel, s: s, line: line, sp: sp})
		return
	}
	l.emit(token{k: tStr, parts: parts, line: line, sp: sp})
}

func closerOf(c byte) byte {
	switch c {
	case '(':
		return ')'
	case '[':
		return ']'
	case '{':
		return '}'
	case '<':
		return '>'
	}
	return c
}

func (l *lexer) lexPercent(sp bool) {
	line := l.line
	l.pos++ // '%'
	kind := byte('Q')
	c := l.src[l.pos]
	if isIdentChar(c) {
		kind = c
		l.pos++
		if l.pos >= len(l.src) {
			l.fail(line, "Ruby syntax error: unterminated %%%c literal", kind)
			return
		}
		c = l.src[l.pos]
	}
	if isIdentChar(c) || isSpace(c) || c >= 0x80 {
		l.fail(line, "Ruby syntax error: bad %% literal delimiter")
		return
	}
	l.pos++
	switch kind {
	case 'q':
		l.emitString(l.lexQuoted(closerOf(c), c, false), line, sp)
	case 'Q':
		l.emitString(l.lexQuoted(closerOf(c), c, true), line, sp)
	case 'w', 'i':
		l.lexWords(closerOf(c), c, false, line, sp)
	case 'W', 'I':
		l.lexWords(closerOf(c), c, true, line, sp)
	case 'r':
		l.unsupported(line, "regular expression %r")
	case 'x':
		l.unsupported(line, "command %x()")
	case 's':
		l.unsupported(line, "symbol literal %s()")
	default:
		l.fail(line, "Ruby syntax error: unknown %%%c literal", kind)
	}
}

// lexQuoted reads a string body up to the closing delimiter. open is the
// opening bracket for nesting (0 for quotes); interp enables #{} and escapes.
func (l *lexer) lexQuoted(close, open byte, interp bool) []part {
	var parts []part
	var sb strings.Builder
	startLine := l.line
	litLine := l.line
	depth := 0
	flush := func() {
		if sb.Len() > 0 {
			parts = append(parts, part{lit: sb.String(), line: litLine})
			sb.Reset()
		}
	}
	for {
		if l.pos >= len(l.src) {
			l.fail(startLine, "Ruby syntax error: unterminated string")
			return nil
		}
		c := l.src[l.pos]
		switch {
		case c == close && depth == 0:
			l.pos++
			flush()
			return parts
		case open != 0 && open != close && c == open:
			depth++
		case open != 0 && open != close && c == close:
			depth--
		case c == '\n':
			l.line++
		case c == '\\':
			l.pos++
			if l.pos >= len(l.src) {
				continue
			}
			e := l.src[l.pos]
			if !interp {
				if e == close || e == '\\' || (open != 0 && e == open) {
					sb.WriteByte(e)
				} else {
					sb.WriteByte('\\')
					sb.WriteByte(e)
					if e == '\n' {
						l.line++
					}
				}
				l.pos++
				continue
			}
			l.escape(&sb)
			continue
		case interp && c == '#' && l.peekc(1) == '{':
			flush()
			p, ok := l.interpolation()
			if !ok {
				return nil
			}
			parts = append(parts, p)
			litLine = l.line
			continue
		}
		if sb.Len() == 0 {
			litLine = l.line
		}
		sb.WriteByte(c)
		l.pos++
	}
}

// interpolation lexes the expression of the "#{...}" that starts at l.pos
// into a part of its own; false after a lexing error (l.err).
func (l *lexer) interpolation() (part, bool) {
	exprLine := l.line
	l.pos += 2
	saved, savedDepth := l.toks, l.depth
	l.toks, l.depth = nil, 0
	l.lex(true)
	inner := l.toks
	l.toks, l.depth = saved, savedDepth
	if l.err != nil {
		return part{}, false
	}
	return part{toks: append(inner, token{k: tEOF, line: l.line}), isExpr: true, line: exprLine}, true
}

// escape decodes one backslash escape of a double-quoted string (l.pos is on
// the character after the backslash).
func (l *lexer) escape(sb *strings.Builder) {
	e := l.src[l.pos]
	l.pos++
	switch e {
	case 'n':
		sb.WriteByte('\n')
	case 't':
		sb.WriteByte('\t')
	case 'r':
		sb.WriteByte('\r')
	case 's':
		sb.WriteByte(' ')
	case 'e':
		sb.WriteByte(0x1b)
	case 'a':
		sb.WriteByte('\a')
	case 'b':
		sb.WriteByte('\b')
	case 'f':
		sb.WriteByte('\f')
	case 'v':
		sb.WriteByte('\v')
	case '\n':
		l.line++ // line continuation inside the string
	case 'x':
		n, ok := l.digits(16, 2)
		if !ok {
			l.fail(l.line, "Ruby syntax error: invalid \\x escape")
			return
		}
		sb.WriteByte(byte(n))
	case 'u':
		if l.peekc(0) == '{' {
			l.pos++
			for l.err == nil {
				for l.peekc(0) == ' ' {
					l.pos++
				}
				if l.peekc(0) == '}' {
					l.pos++
					return
				}
				n, ok := l.digits(16, 6)
				if !ok || n > utf8.MaxRune {
					l.fail(l.line, "Ruby syntax error: invalid \\u escape")
					return
				}
				sb.WriteRune(rune(n))
			}
			return
		}
		n, ok := l.digits(16, 4)
		if !ok {
			l.fail(l.line, "Ruby syntax error: invalid \\u escape")
			return
		}
		sb.WriteRune(rune(n))
	case 'c', 'C', 'M':
		l.unsupported(l.line, "control/meta character escape")
	default:
		if e >= '0' && e <= '7' {
			l.pos--
			n, _ := l.digits(8, 3)
			sb.WriteByte(byte(n))
			return
		}
		sb.WriteByte(e)
	}
}

func (l *lexer) digits(base, max int) (int, bool) {
	start := l.pos
	for l.pos < len(l.src) && l.pos-start < max {
		c := l.src[l.pos]
		var ok bool
		if base == 8 {
			ok = c >= '0' && c <= '7'
		} else {
			ok = isDigit(c) || strings.IndexByte("abcdefABCDEF", c) >= 0
		}
		if !ok {
			break
		}
		l.pos++
	}
	if l.pos == start {
		return 0, false
	}
	n, err := strconv.ParseInt(string(l.src[start:l.pos]), base, 32)
	return int(n), err == nil
}

// lexWords reads %w() (interp=false) or %W() words.
func (l *lexer) lexWords(close, open byte, interp bool, line int, sp bool) {
	var words [][]part
	var cur []part
	var sb strings.Builder
	depth := 0
	inWord := false
	wordLine := l.line
	flushLit := func() {
		if sb.Len() > 0 {
			cur = append(cur, part{lit: sb.String(), line: wordLine})
			sb.Reset()
		}
	}
	endWord := func() {
		flushLit()
		if inWord {
			words = append(words, cur)
		}
		cur = nil
		inWord = false
	}
	for {
		if l.pos >= len(l.src) {
			l.fail(line, "Ruby syntax error: unterminated %%w literal")
			return
		}
		c := l.src[l.pos]
		switch {
		case c == close && depth == 0:
			l.pos++
			endWord()
			l.emit(token{k: tWords, words: words, line: line, sp: sp, end: l.line})
			return
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if c == '\n' {
				l.line++
			}
			l.pos++
			endWord()
			continue
		case open != close && c == open:
			depth++
		case open != close && c == close:
			depth--
		case c == '\\':
			l.pos++
			if l.pos >= len(l.src) {
				continue
			}
			e := l.src[l.pos]
			if !inWord {
				inWord, wordLine = true, l.line
			}
			if e == close || e == open || e == '\\' || e == ' ' || e == '\t' || e == '\n' {
				if e == '\n' {
					l.line++
				}
				sb.WriteByte(e)
				l.pos++
				continue
			}
			if !interp {
				sb.WriteByte('\\')
				sb.WriteByte(e)
				l.pos++
				continue
			}
			l.escape(&sb)
			continue
		case interp && c == '#' && l.peekc(1) == '{':
			flushLit()
			if !inWord {
				inWord, wordLine = true, l.line
			}
			p, ok := l.interpolation()
			if !ok {
				return
			}
			cur = append(cur, p)
			continue
		}
		if !inWord {
			inWord, wordLine = true, l.line
		}
		sb.WriteByte(c)
		l.pos++
	}
}
