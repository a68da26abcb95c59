package ruby

import (
	"fmt"
	"strings"
)

// ctx is where a statement is: it decides what a name like `rsync` means.
type ctx int

const (
	ctxTop     ctx = iota // top level of the Griforkfile: directives
	ctxTask               // local/remote blocks: helpers, src and dst
	ctxHook               // prepare/finish/prepare_remote/finish_remote: helpers only
	ctxGrifork            // grifork do ... end
)

// typ is what the converter knows about a Ruby value, enough to choose between
// `..` and `+` and to turn values into strings the way Ruby does.
type typ int

const (
	tyUnknown typ = iota
	tyStr
	tyNum
	tyBool
	tyNil
	tyArr
	tyHash
	tyStrNil // a string or nil (ENV['X'])
)

type hpair struct {
	key  string
	line int
	val  *expr
}

// expr is a converted Ruby expression.
type expr struct {
	f      frag
	t      typ
	elem   typ // element type of an array
	line   int
	simple bool // safe as an operand without parentheses
	concat bool // a `..` chain (an operand of another `..` without parentheses)
	host   bool // src or dst: a Host in Ruby, its name in Lua

	lit  bool   // a constant string (literal or symbol) ...
	str  string // ... with this value
	sym  bool
	bool bool // a literal true/false ...
	bval bool // ... with this value

	isArr   bool // an array literal ...
	elems   []*expr
	isHash  bool // a hash literal ...
	pairs   []hpair
	endLine int // line of the closing bracket, 0 when implicit
}

type variable struct {
	lua      string
	t        typ
	elem     typ
	poisoned int // line of the if/unless it was first assigned in; 0 if usable
}

type scope struct {
	vars   map[string]*variable
	parent *scope
	soft   bool // if/unless bodies: Ruby has no scope there, Lua does
}

type bailout struct{}

// state is shared by a parser and the sub-parsers of its interpolations.
type state struct {
	file       string
	err        *Error
	notes      map[int][]string
	needExpand bool
	idents     map[string]bool
	renames    map[string]string
	depth      int // nesting of expressions, bounded so hostile input stays cheap
	ops        int // binary operators in the current statement, bounded likewise
}

// Bounds on what a Griforkfile may nest or chain; real files stay far below.
const (
	maxDepth = 200
	maxOps   = 1000
)

type parser struct {
	*state
	toks    []token
	pos     int
	sc      *scope
	stmtPos int // token index where the current expression statement starts
}

func newParser(file string, lx *lexer) *parser {
	return &parser{
		state: &state{
			file:    file,
			notes:   map[int][]string{},
			idents:  lx.idents,
			renames: map[string]string{},
		},
		toks:    lx.toks,
		sc:      &scope{vars: map[string]*variable{}},
		stmtPos: -1,
	}
}

// sub returns a parser over the tokens of an interpolation, in the same scope.
func (p *parser) sub(toks []token) *parser {
	return &parser{state: p.state, toks: toks, sc: p.sc, stmtPos: -1}
}

func (p *parser) fail(line int, format string, args ...any) {
	if p.err == nil {
		p.err = errorf(p.file, line, format, args...)
	}
	panic(bailout{})
}

func (p *parser) unsupported(line int, format string, args ...any) {
	p.fail(line, "unsupported Ruby construct: %s (convert this part by hand)", fmt.Sprintf(format, args...))
}

func (p *parser) note(line int, text string) { p.notes[line] = append(p.notes[line], " "+text) }

// ---- tokens

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) peekAt(n int) token {
	if p.pos+n < len(p.toks) {
		return p.toks[p.pos+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.pos]
	if p.pos < len(p.toks)-1 {
		p.pos++
	}
	return t
}

func (t token) isOp(s string) bool { return t.k == tOp && t.s == s }
func (t token) isKw(s string) bool { return t.k == tIdent && t.s == s }

func (p *parser) skipNL() {
	for p.peek().k == tNL {
		p.next()
	}
}

func (p *parser) expectOp(s string) token {
	t := p.peek()
	if !t.isOp(s) {
		p.syntax(t, "expected %q", s)
	}
	return p.next()
}

func (p *parser) syntax(t token, format string, args ...any) {
	p.fail(t.line, "Ruby syntax error: %s, found %s", fmt.Sprintf(format, args...), describe(t))
}

func describe(t token) string {
	switch t.k {
	case tEOF:
		return "end of file"
	case tNL:
		if t.nlEnd {
			return "end of line"
		}
		return "\";\""
	case tIdent, tConst:
		return fmt.Sprintf("%q", t.s)
	case tLabel:
		return fmt.Sprintf("%q", t.s+":")
	case tSym:
		return fmt.Sprintf("%q", ":"+t.s)
	case tStr:
		return "a string"
	case tWords:
		return "a %w() list"
	case tNum:
		return "a number"
	}
	return fmt.Sprintf("%q", t.s)
}

// ---- names and scopes

var luaReserved = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`and break do else elseif end false for function goto if in local nil not or
		repeat return then true until while
		os io print tostring tonumber table string math type ipairs pairs next select unpack error assert
		pcall xpcall require setmetatable getmetatable rawget rawset rawequal coroutine debug load loadstring
		dofile _G _ENV _VERSION
		src dst report mode branches log hosts ssh rsync rsync_remote grifork parallel prepare locally remote
		prepare_remote finish_remote finish sh expand_path__`) {
		luaReserved[n] = true
	}
}

// luaName is the Lua name of a Ruby local or constant: the same unless Lua or the
// DSL already uses it, then suffixed with "_" until it collides with nothing.
func (p *parser) luaName(name string) string {
	if n, ok := p.renames[name]; ok {
		return n
	}
	n := name
	for luaReserved[n] || (n != name && p.idents[n]) {
		n += "_"
	}
	p.renames[name] = n
	return n
}

func (p *parser) lookup(name string) *variable {
	for s := p.sc; s != nil; s = s.parent {
		if v, ok := s.vars[name]; ok {
			return v
		}
	}
	return nil
}

func (p *parser) push(soft bool) {
	p.sc = &scope{vars: map[string]*variable{}, parent: p.sc, soft: soft}
}

// pop leaves a scope. Names first assigned in an if/unless body stay known to
// the enclosing scope, poisoned: Ruby would see them there, the Lua local not.
func (p *parser) pop(ifLine int) {
	s := p.sc
	p.sc = s.parent
	if !s.soft {
		return
	}
	for name, v := range s.vars {
		if p.lookup(name) == nil {
			pv := *v
			if pv.poisoned == 0 {
				pv.poisoned = ifLine
			}
			p.sc.vars[name] = &pv
		}
	}
}

// ---- program and statements

func (p *parser) parseProgram() (out frag) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			out = nil
		}
	}()
	f := p.parseBody(ctxTop)
	if t := p.peek(); t.k != tEOF {
		p.syntax(t, "unexpected token")
	}
	return f
}

// atBodyEnd reports whether t closes the current body.
func atBodyEnd(t token, brace bool) bool {
	if t.k == tEOF {
		return true
	}
	if brace {
		return t.isOp("}")
	}
	return t.isKw("end") || t.isKw("else") || t.isKw("elsif")
}

// parseBody parses statements until `end`/`else`/`elsif` (or `}` for a brace
// block, or the end of file).
func (p *parser) parseBody(c ctx) frag { return p.parseBodyB(c, false) }

func (p *parser) parseBodyB(c ctx, brace bool) frag {
	if p.depth++; p.depth > maxDepth {
		p.unsupported(p.peek().line, "blocks nested more than %d levels deep", maxDepth)
	}
	defer func() { p.depth-- }()
	var f frag
	for {
		p.skipNL()
		t := p.peek()
		if atBodyEnd(t, brace) {
			return f
		}
		f = f.add(0, " ")
		f = append(f, p.parseStatement(c)...)
		t = p.peek()
		if t.k == tNL {
			continue
		}
		if !atBodyEnd(t, brace) {
			p.syntax(t, "expected end of statement")
		}
	}
}

var unsupportedKw = map[string]string{
	"while": "while loop", "until": "until loop", "for": "for loop", "case": "case/when",
	"class": "class", "def": "def (method definition)", "module": "module", "begin": "begin/rescue",
	"rescue": "rescue", "ensure": "ensure", "return": "return", "break": "break", "next": "next",
	"redo": "redo", "retry": "retry", "yield": "yield", "self": "self", "alias": "alias", "undef": "undef",
	"defined?": "defined?", "super": "super", "__FILE__": "__FILE__", "__LINE__": "__LINE__",
	"__dir__": "__dir__", "__method__": "__method__", "BEGIN": "BEGIN block", "END": "END block",
	"lambda": "lambda", "proc": "proc", "loop": "loop",
}

func (p *parser) parseStatement(c ctx) frag {
	t := p.peek()
	p.ops = 0
	var f frag
	var as *assignment
	switch {
	case t.isKw("if") || t.isKw("unless"):
		f = p.parseIf(c)
	case t.k == tIdent && unsupportedKw[t.s] != "":
		p.unsupported(t.line, "%s", unsupportedKw[t.s])
	case (t.k == tIdent || t.k == tConst) && !keywords[t.s] && isAssignOp(p.peekAt(1)):
		as = p.parseAssign(c)
		f = as.render(as.decl)
	default:
		f = p.parseExprStatement(c)
	}
	for {
		m := p.peek()
		switch {
		case m.isKw("if") || m.isKw("unless"):
			p.next()
			cond := p.parseCond(c)
			head := "if "
			if m.s == "unless" {
				head = "if not "
				cond = wrapNot(cond)
			}
			line := f.firstLine()
			var g frag
			body := f
			if as != nil && as.decl {
				// `x = 1 if c`: Ruby declares x whether or not c holds.
				g = frag{{as.line, "local " + as.name + " "}}
				body = as.render(false)
				if v := p.sc.vars[as.ruby]; v != nil {
					v.t = mergeTypes(tyNil, v.t) // nil when the condition fails
				}
			}
			as = nil
			g = g.add(line, head)
			g = append(g, cond.f.flat()...)
			g = g.add(0, " then ")
			g = append(g, body...)
			f = g.add(0, " end")
		case m.isKw("while") || m.isKw("until"):
			p.unsupported(m.line, "%s modifier", m.s)
		case m.isKw("rescue"):
			p.unsupported(m.line, "rescue modifier")
		default:
			return f
		}
	}
}
