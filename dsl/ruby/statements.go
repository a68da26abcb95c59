package ruby

import "strings"

// ---- if / unless

func (p *parser) parseCond(c ctx) *expr {
	e := p.parseExprKw(c)
	if e.isArr || e.isHash {
		// Ruby: always true. Keep it obvious rather than clever.
		p.unsupported(e.line, "array or hash literal used as a condition")
	}
	return e
}

// wrapNot returns e parenthesised when `not` would otherwise bind to a part of it.
func wrapNot(e *expr) *expr { return parenthesize(e) }

func parenthesize(e *expr) *expr {
	if e.simple {
		return e
	}
	q := *e
	q.f = append(append(frag{{0, "("}}, e.f...), piece{0, ")"})
	q.simple = true
	return &q
}

func (p *parser) parseIf(c ctx) frag {
	kw := p.next()
	cond := p.parseCond(c)
	head := "if "
	if kw.s == "unless" {
		head = "if not "
		cond = wrapNot(cond)
	}
	f := frag{{kw.line, head}}
	f = append(f, cond.f...)
	p.skipThen()
	f = f.add(0, " then")
	p.push(true)
	f = append(f, p.parseBody(c)...)
	p.pop(kw.line)
	for {
		t := p.peek()
		switch {
		case t.isKw("elsif"):
			if kw.s == "unless" {
				p.syntax(t, "unless cannot have elsif")
			}
			p.next()
			cond := p.parseCond(c)
			p.skipThen()
			f = f.add(t.line, " elseif ")
			f = append(f, cond.f...)
			f = f.add(0, " then")
			p.push(true)
			f = append(f, p.parseBody(c)...)
			p.pop(kw.line)
		case t.isKw("else"):
			p.next()
			f = f.add(t.line, " else")
			p.push(true)
			f = append(f, p.parseBody(c)...)
			p.pop(kw.line)
		case t.isKw("end"):
			p.next()
			return f.add(t.line, " end")
		default:
			p.syntax(t, "expected end of %s", kw.s)
		}
	}
}

func (p *parser) skipThen() {
	t := p.peek()
	if t.isKw("then") {
		p.next()
		return
	}
	if t.k != tNL {
		p.syntax(t, "expected then or a new line")
	}
}

// ---- assignment

type assignment struct {
	line  int
	ruby  string // Ruby name
	name  string // Lua name
	value *expr
	decl  bool // first assignment: `local`
}

func (a *assignment) render(decl bool) frag {
	head := a.name + " = "
	if decl {
		head = "local " + head
	}
	return append(frag{{a.line, head}}, a.value.f...)
}

func isAssignOp(t token) bool {
	if t.k != tOp {
		return false
	}
	switch t.s {
	case "=", "+=", "-=", "*=", "||=":
		return true
	case "/=", "%=", "**=", "<<=", ">>=", "&&=", "|=", "&=", "^=":
		return true // reported as unsupported by parseAssign
	}
	return false
}

func (p *parser) parseAssign(c ctx) *assignment {
	nameTok := p.next()
	op := p.next()
	p.skipNL()
	if nameTok.k == tConst && c != ctxTop {
		p.unsupported(nameTok.line, "constant assignment inside a block")
	}
	v := p.lookup(nameTok.s)
	if v != nil && v.poisoned != 0 {
		if op.s != "=" {
			p.poisoned(nameTok, v)
		}
		v = nil // a fresh Lua local, as the one in the if is out of reach
	}
	var rhs *expr
	switch op.s {
	case "=":
		rhs = p.parseArgExpr(c)
		if t := p.peek(); t.isOp(",") {
			p.unsupported(t.line, "multiple assignment")
		}
		if t := p.peek(); isAssignOp(t) {
			p.unsupported(t.line, "chained assignment")
		}
	case "+=", "-=", "*=", "||=":
		r := p.parseArgExpr(c)
		if op.s == "||=" {
			if v == nil {
				rhs = r
				break
			}
			cur := &expr{f: frag{{nameTok.line, v.lua}}, t: v.t, elem: v.elem, line: nameTok.line, simple: true}
			rhs = p.logical(cur, r, "or", op.line)
			break
		}
		if v == nil {
			p.unsupported(nameTok.line, "%s on undefined variable %s", op.s, nameTok.s)
		}
		cur := &expr{f: frag{{nameTok.line, v.lua}}, t: v.t, elem: v.elem, line: nameTok.line, simple: true}
		rhs = p.arith(cur, r, strings.TrimSuffix(op.s, "="), op.line)
	default:
		p.unsupported(op.line, "operator %s", op.s)
	}
	if rhs.isHash {
		rhs = p.genericHash(rhs)
	}
	a := &assignment{line: nameTok.line, ruby: nameTok.s, value: rhs}
	if v == nil {
		a.decl = true
		a.name = p.luaName(nameTok.s)
		p.sc.vars[nameTok.s] = &variable{lua: a.name, t: rhs.t, elem: rhs.elem}
	} else {
		a.name = v.lua
		v.t = mergeTypes(v.t, rhs.t)
		if v.elem != rhs.elem {
			v.elem = tyUnknown
		}
	}
	return a
}

// mergeTypes is the type of a variable assigned values of types a and b.
func mergeTypes(a, b typ) typ {
	switch {
	case a == b:
		return a
	case (a == tyNil || a == tyStrNil || a == tyStr) && (b == tyNil || b == tyStrNil || b == tyStr):
		return tyStrNil
	}
	return tyUnknown
}

func (p *parser) poisoned(t token, v *variable) {
	p.unsupported(t.line, "variable %s is first assigned inside the if/unless of line %d and used after it (assign it before the if)", t.s, v.poisoned)
}

// ---- expression statements and commands

// blockNames are the task blocks and their Lua names.
var blockNames = map[string]string{
	"prepare": "prepare", "local": "locally", "remote": "remote",
	"prepare_remote": "prepare_remote", "finish_remote": "finish_remote", "finish": "finish",
}

var directives = map[string]bool{
	"mode": true, "branches": true, "log": true, "parallel": true, "hosts": true, "grifork": true,
}

func (p *parser) parseExprStatement(c ctx) frag {
	t := p.peek()
	if t.k == tIdent && p.lookup(t.s) == nil && !keywords[t.s] {
		if f, ok := p.parseCommand(c); ok {
			return f
		}
	}
	p.stmtPos = p.pos
	e := p.parseExprKw(c)
	if e.t == tyStmt {
		return e.f
	}
	// A value computed for nothing: keep it evaluated, as Ruby does.
	if e.isHash {
		e = p.genericHash(e)
	}
	return append(frag{{e.line, "local _ = "}}, e.f...)
}

// tyStmt marks an "expression" that is really a statement (an each loop).
const tyStmt typ = 100

// parseCommand converts a call of a DSL directive or helper. ok is false when
// the name is not a command (the caller parses an expression).
func (p *parser) parseCommand(c ctx) (frag, bool) {
	t := p.peek()
	name := t.s
	_, isBlock := blockNames[name]
	isHelper := name == "sh" || name == "ssh" || name == "rsync" || name == "rsync_remote"
	isPrint := name == "p" || name == "puts"
	isGriforkKey := name == "chdir" || name == "tmpdir" || name == "exec" || name == "user"
	switch {
	case c == ctxGrifork:
		if !isGriforkKey {
			p.unsupported(t.line, "%s inside the grifork block (only chdir, tmpdir, exec and user belong there)", name)
		}
	case isPrint:
	case c == ctxTop && (isBlock || directives[name] || name == "ssh" || name == "rsync"):
	case c != ctxTop && isHelper:
	case c == ctxTop && (name == "sh" || name == "rsync_remote"):
		p.unsupported(t.line, "%s outside a task block", name)
	case c != ctxTop && (isBlock || directives[name]):
		p.unsupported(t.line, "directive %s inside a task block", name)
	case name == "src" || name == "dst" || name == "nil" || name == "true" || name == "false" || name == "not":
		return nil, false
	case name == "raise" || name == "fail" || name == "abort" || name == "exit" || name == "system" ||
		name == "exec" || name == "require" || name == "require_relative" || name == "load" || name == "eval" ||
		name == "sleep" || name == "print" || name == "printf" || name == "pp" || name == "warn" ||
		name == "instance_eval" || name == "send" || name == "at_exit" || name == "fork" || name == "spawn" ||
		name == "open" || name == "gets" || name == "sprintf" || name == "format" || name == "catch" || name == "throw":
		p.unsupported(t.line, "%s", name)
	default:
		if p.peekAt(1).isOp(".") || p.peekAt(1).isOp("&.") {
			return nil, false
		}
		p.unsupported(t.line, "method %s", name)
	}
	p.next()
	args, argLines := p.parseCallArgs(c)
	switch {
	case c == ctxTop && name == "grifork":
		return p.griforkBlock(t, args), true
	case c == ctxGrifork:
		return p.griforkKey(t, args), true
	case isPrint:
		p.noBlock(t)
		return p.print(t, args), true
	case isBlock:
		return p.taskBlock(t, args), true
	case c == ctxTop:
		p.noBlock(t)
		return p.directive(t, args, argLines), true
	default:
		p.noBlock(t)
		return p.helper(t, args), true
	}
}

func (p *parser) noBlock(t token) {
	if n := p.peek(); n.isKw("do") || n.isOp("{") {
		p.unsupported(n.line, "block passed to %s", t.s)
	}
}

// parseCallArgs reads `(a, b)` or `a, b` (a trailing `k: v` list becomes one
// hash). argLines is the line of the closing parenthesis, 0 without one.
func (p *parser) parseCallArgs(c ctx) ([]*expr, int) {
	t := p.peek()
	if t.isOp("(") && !t.sp {
		p.next()
		p.skipNL()
		if p.peek().isOp(")") {
			return nil, p.next().line
		}
		args := p.parseArgList(c, ")")
		p.skipNL()
		return args, p.expectOp(")").line
	}
	if !p.canStartArg(t) {
		return nil, 0
	}
	return p.parseArgList(c, ""), 0
}

func (p *parser) canStartArg(t token) bool {
	switch t.k {
	case tStr, tWords, tNum, tSym, tLabel, tConst:
		return true
	case tIdent:
		switch t.s {
		case "if", "unless", "while", "until", "rescue", "do", "end", "then", "and", "or", "else", "elsif":
			return false
		}
		return true
	case tOp:
		switch t.s {
		case "(", "!", "->", "::":
			return true
		case "[":
			return t.sp
		case "-", "*", "&", "**", ":":
			n := p.peekAt(1)
			return t.sp && !n.sp
		}
	}
	return false
}

// parseArgList reads comma-separated arguments; label/`=>` pairs at the end
// become one hash argument, as in Ruby.
func (p *parser) parseArgList(c ctx, closer string) []*expr {
	var args []*expr
	var h *expr
	for {
		t := p.peek()
		if t.isOp("*") || t.isOp("**") || t.isOp("&") {
			p.unsupported(t.line, "splat or block argument %s", t.s)
		}
		if key, ok := p.hashKey(c); ok {
			if h == nil {
				h = &expr{isHash: true, t: tyHash, line: t.line}
				args = append(args, h)
			}
			p.skipNL()
			h.pairs = append(h.pairs, hpair{key: key, line: t.line, val: p.parseArgExpr(c)})
		} else {
			if h != nil {
				p.syntax(t, "expected key: value after a hash argument")
			}
			args = append(args, p.parseArgExpr(c))
		}
		if !p.peek().isOp(",") {
			break
		}
		p.next()
		p.skipNL()
		if closer != "" && p.peek().isOp(closer) {
			break
		}
	}
	if h != nil {
		*h = *p.genericHash(h) // its plain table text, for uses other than directives
	}
	return args
}

// hashKey consumes `key:`, `:key =>` or `'key' =>` and returns the key.
func (p *parser) hashKey(c ctx) (string, bool) {
	t := p.peek()
	if t.k == tLabel {
		p.next()
		return t.s, true
	}
	if (t.k == tSym || t.k == tStr) && p.peekAt(1).isOp("=>") {
		key := t.s
		if t.k == tStr {
			var ok bool
			key, ok = constString(t.parts)
			if !ok {
				p.unsupported(t.line, "interpolated hash key")
			}
		}
		p.next()
		p.next()
		return key, true
	}
	if p.peekAt(1).isOp("=>") {
		p.unsupported(t.line, "hash key that is not a symbol or a string")
	}
	return "", false
}

func constString(parts []part) (string, bool) {
	var sb strings.Builder
	for _, pt := range parts {
		if pt.isExpr {
			return "", false
		}
		sb.WriteString(pt.lit)
	}
	return sb.String(), true
}

// ---- blocks

type blockHead struct {
	open   token
	params []string
	brace  bool
}

// parseBlockOpen reads `do |a, b|` or `{ |a|` when present.
func (p *parser) parseBlockOpen() (blockHead, bool) {
	t := p.peek()
	if !t.isKw("do") && !t.isOp("{") {
		return blockHead{}, false
	}
	p.next()
	b := blockHead{open: t, brace: t.isOp("{")}
	if p.peek().isOp("||") {
		p.next()
		return b, true
	}
	if p.peek().isOp("|") {
		p.next()
		for {
			n := p.next()
			if n.k != tIdent || keywords[n.s] {
				if n.isOp("*") || n.isOp("&") || n.isOp("(") {
					p.unsupported(n.line, "block parameter %s", n.s)
				}
				p.syntax(n, "expected a block parameter name")
			}
			b.params = append(b.params, n.s)
			if p.peek().isOp(",") {
				p.next()
				continue
			}
			if p.peek().isOp("=") {
				p.unsupported(n.line, "block parameter default")
			}
			p.expectOp("|")
			break
		}
	}
	return b, true
}

func (p *parser) parseBlockClose(b blockHead) token {
	t := p.peek()
	if b.brace {
		return p.expectOp("}")
	}
	if !t.isKw("end") {
		p.syntax(t, "expected end of the block opened on line %d", b.open.line)
	}
	return p.next()
}

func (p *parser) taskBlock(t token, args []*expr) frag {
	if len(args) > 0 {
		p.unsupported(t.line, "arguments to %s", t.s)
	}
	b, ok := p.parseBlockOpen()
	if !ok {
		p.unsupported(t.line, "%s without a block", t.s)
	}
	if len(b.params) > 0 {
		p.unsupported(b.open.line, "block parameters for %s (use src and dst)", t.s)
	}
	lua := blockNames[t.s]
	c := ctxHook
	head := lua + "(function()"
	if t.s == "local" || t.s == "remote" {
		c = ctxTask
		head = lua + "(function(src, dst)"
	}
	f := frag{{t.line, head}}
	p.push(false)
	f = append(f, p.parseBodyB(c, b.brace)...)
	p.pop(0)
	end := p.parseBlockClose(b)
	return f.add(end.line, " end)")
}

// eachLoop converts `coll.each do |x| ... end`.
func (p *parser) eachLoop(c ctx, coll *expr, dot token, start int) *expr {
	if start != p.stmtPos {
		p.unsupported(dot.line, "each used as a value")
	}
	b, ok := p.parseBlockOpen()
	if !ok {
		p.unsupported(dot.line, "each without a block")
	}
	if coll.t != tyArr {
		p.unsupported(dot.line, "each over something that is not a known array")
	}
	if len(b.params) > 1 {
		p.unsupported(b.open.line, "each with %d block parameters", len(b.params))
	}
	p.push(false)
	v := "_"
	if len(b.params) == 1 {
		v = p.luaName(b.params[0])
		p.sc.vars[b.params[0]] = &variable{lua: v, t: coll.elem}
	}
	f := frag{{coll.f.firstLine(), "for _, " + v + " in ipairs("}}
	if v == "_" {
		f = frag{{coll.f.firstLine(), "for _ in ipairs("}}
	}
	f = append(f, coll.f...)
	f = f.add(0, ") do")
	f = append(f, p.parseBodyB(c, b.brace)...)
	p.pop(0)
	end := p.parseBlockClose(b)
	if n := p.peek(); n.k != tNL && n.k != tEOF && !atBodyEnd(n, true) && !atBodyEnd(n, false) && !n.isKw("if") && !n.isKw("unless") {
		p.unsupported(n.line, "each used as a value")
	}
	return &expr{f: f.add(end.line, " end"), t: tyStmt, line: dot.line}
}
