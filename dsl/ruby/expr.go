package ruby

import (
	"strconv"
	"strings"

	"github.com/grifork/grifork/internal/lualit"
)

// ---- precedence levels, loosest first

// parseExprKw parses `not`, `and` and `or` (statement-level operators).
func (p *parser) parseExprKw(c ctx) *expr {
	l := p.parseNotKw(c)
	for {
		t := p.peek()
		if !t.isKw("and") && !t.isKw("or") {
			return l
		}
		p.next()
		p.skipNL()
		l = p.logical(l, p.parseNotKw(c), t.s, t.line)
	}
}

func (p *parser) parseNotKw(c ctx) *expr {
	if t := p.peek(); t.isKw("not") {
		p.next()
		return notExpr(t.line, p.parseNotKw(c))
	}
	return p.parseArgExpr(c)
}

// parseArgExpr parses one argument or right-hand side.
func (p *parser) parseArgExpr(c ctx) *expr {
	e := p.parseOr(c)
	t := p.peek()
	switch {
	case t.isOp("?"):
		p.unsupported(t.line, "ternary operator ?:")
	case t.isOp("..") || t.isOp("..."):
		p.unsupported(t.line, "range %s", t.s)
	case t.isKw("rescue"):
		p.unsupported(t.line, "rescue modifier")
	}
	return e
}

func (p *parser) parseOr(c ctx) *expr {
	l := p.parseAnd(c)
	for p.peek().isOp("||") {
		t := p.next()
		p.skipNL()
		l = p.logical(l, p.parseAnd(c), "or", t.line)
	}
	return l
}

func (p *parser) parseAnd(c ctx) *expr {
	l := p.parseEq(c)
	for p.peek().isOp("&&") {
		t := p.next()
		p.skipNL()
		l = p.logical(l, p.parseEq(c), "and", t.line)
	}
	return l
}

func (p *parser) parseEq(c ctx) *expr {
	l := p.parseCmp(c)
	t := p.peek()
	if t.k != tOp {
		return l
	}
	switch t.s {
	case "==", "!=":
		p.next()
		p.skipNL()
		r := p.parseCmp(c)
		if l.t == tyArr || r.t == tyArr || l.t == tyHash || r.t == tyHash {
			p.unsupported(t.line, "comparing arrays or hashes with %s", t.s)
		}
		op := " == "
		if t.s == "!=" {
			op = " ~= "
		}
		return binary(l, r, op, tyBool)
	case "=~", "!~", "===", "<=>":
		p.unsupported(t.line, "operator %s", t.s)
	}
	return l
}

func (p *parser) parseCmp(c ctx) *expr {
	l := p.parseAdd(c)
	t := p.peek()
	if t.isOp("<") || t.isOp(">") || t.isOp("<=") || t.isOp(">=") {
		p.next()
		p.skipNL()
		r := p.parseAdd(c)
		if !(l.t == tyNum && r.t == tyNum) && !(l.t == tyStr && r.t == tyStr) {
			p.unsupported(t.line, "comparison %s of values that are not both numbers or both strings", t.s)
		}
		return binary(l, r, " "+t.s+" ", tyBool)
	}
	if t.isOp("<<") || t.isOp(">>") || t.isOp("&") || t.isOp("|") || t.isOp("^") {
		p.unsupported(t.line, "operator %s", t.s)
	}
	return l
}

func (p *parser) parseAdd(c ctx) *expr {
	l := p.parseMul(c)
	for {
		t := p.peek()
		if !t.isOp("+") && !t.isOp("-") {
			return l
		}
		p.next()
		p.skipNL()
		l = p.arith(l, p.parseMul(c), t.s, t.line)
	}
}

func (p *parser) parseMul(c ctx) *expr {
	l := p.parseUnary(c)
	for {
		t := p.peek()
		switch {
		case t.isOp("*"):
			p.next()
			p.skipNL()
			l = p.arith(l, p.parseUnary(c), "*", t.line)
		case t.isOp("/") || t.isOp("%") || t.isOp("**"):
			p.unsupported(t.line, "operator %s", t.s)
		default:
			return l
		}
	}
}

func (p *parser) parseUnary(c ctx) *expr {
	t := p.peek()
	if p.depth++; p.depth > maxDepth {
		p.unsupported(t.line, "expression nested more than %d levels deep", maxDepth)
	}
	defer func() { p.depth-- }()
	switch {
	case t.isOp("!"):
		p.next()
		return notExpr(t.line, p.parseUnary(c))
	case t.isOp("-"):
		p.next()
		e := p.parseUnary(c)
		if e.t != tyNum {
			p.unsupported(t.line, "unary minus on a value that is not a number")
		}
		o := parenthesize(e).f
		if len(o) > 0 && strings.HasPrefix(o[0].text, "-") {
			o = append(append(frag{{0, "("}}, o...), piece{0, ")"}) // "--" would start a Lua comment
		}
		return &expr{f: append(frag{{t.line, "-"}}, o...), t: tyNum, line: t.line, simple: true}
	case t.isOp("+") || t.isOp("~"):
		p.unsupported(t.line, "unary %s", t.s)
	}
	return p.parsePostfix(c)
}

func notExpr(line int, e *expr) *expr {
	return &expr{f: append(frag{{line, "not "}}, parenthesize(e).f...), t: tyBool, line: line}
}

// operand returns e's text, parenthesised unless it is simple.
func operand(e *expr) frag { return parenthesize(e).f }

func (p *parser) countOp(line int) {
	if p.ops++; p.ops > maxOps {
		p.unsupported(line, "statement with more than %d operators", maxOps)
	}
}

func binary(l, r *expr, op string, t typ) *expr {
	f := append(frag{}, operand(l)...)
	f = f.add(0, op)
	f = append(f, operand(r)...)
	return &expr{f: f, t: t, line: l.line}
}

func (p *parser) logical(l, r *expr, op string, line int) *expr {
	p.countOp(line)
	if l.isHash || r.isHash || l.isArr || r.isArr {
		p.unsupported(line, "array or hash literal in %s", op)
	}
	t := tyUnknown
	switch {
	case l.t == r.t:
		t = l.t
	case op == "or" && (l.t == tyStrNil || l.t == tyNil) && r.t == tyStr:
		t = tyStr
	}
	e := binary(l, r, " "+op+" ", t)
	e.elem = tyUnknown
	if l.elem == r.elem {
		e.elem = l.elem
	}
	return e
}

// arith converts + - * knowing that Ruby's + on strings is Lua's `..`.
func (p *parser) arith(l, r *expr, op string, line int) *expr {
	p.countOp(line)
	isStr := func(e *expr) bool { return e.t == tyStr || e.t == tyStrNil }
	switch {
	case l.t == tyNum && r.t == tyNum:
		return binary(l, r, " "+op+" ", tyNum)
	case op == "+" && isStr(l) && isStr(r):
		return concat(l, r)
	case op == "*" && l.t == tyStr && r.t == tyNum:
		f := frag{{l.line, "string.rep("}}
		f = append(f, l.f...)
		f = f.add(0, ", ")
		f = append(f, r.f...)
		return &expr{f: f.add(0, ")"), t: tyStr, line: l.line, simple: true}
	case l.t == tyArr || r.t == tyArr:
		p.unsupported(line, "array %s", op)
	case l.t == tyUnknown || r.t == tyUnknown:
		p.unsupported(line, "%s on values of unknown type (cannot tell numbers from strings)", op)
	}
	p.unsupported(line, "%s on these values (Ruby would raise TypeError)", op)
	return nil
}

func concat(l, r *expr) *expr {
	part := func(e *expr) frag {
		if e.concat {
			return e.f
		}
		return operand(e)
	}
	f := append(frag{}, part(l)...)
	f = f.add(0, " .. ")
	f = append(f, part(r)...)
	return &expr{f: f, t: tyStr, line: l.line, concat: true}
}

// ---- postfix and primary

func (p *parser) parsePostfix(c ctx) *expr {
	start := p.pos
	e := p.parsePrimary(c)
	for {
		t := p.peek()
		switch {
		case t.isOp("."):
			p.next()
			p.skipNL()
			m := p.next()
			if m.k != tIdent && m.k != tConst {
				p.syntax(m, "expected a method name after \".\"")
			}
			e = p.method(c, e, t, m, start)
			if e.t == tyStmt {
				return e
			}
		case t.isOp("&."):
			p.unsupported(t.line, "safe navigation &.")
		case t.isOp("::"):
			p.unsupported(t.line, "scope operator ::")
		case t.isOp("[") && !t.sp:
			e = p.index(c, e, t)
		default:
			return e
		}
	}
}

func (p *parser) method(c ctx, recv *expr, dot, m token, start int) *expr {
	name := m.s
	if name == "each" {
		if a := p.peek(); a.isOp("(") && !a.sp {
			p.next()
			p.expectOp(")")
		}
		return p.eachLoop(c, recv, dot, start)
	}
	args, _ := p.parseCallArgs(c)
	if b := p.peek(); b.isKw("do") || (b.isOp("{") && !b.sp) || (b.isOp("{") && len(args) == 0) {
		p.unsupported(b.line, "block passed to .%s", name)
	}
	nargs := func(n ...int) {
		for _, k := range n {
			if len(args) == k {
				return
			}
		}
		p.unsupported(m.line, ".%s with %d arguments", name, len(args))
	}
	e := &expr{line: recv.line, simple: true}
	switch {
	case name == "hostname" && recv.host:
		nargs(0)
		return recv
	case name == "to_s":
		nargs(0)
		return p.toString(recv, true)
	case name == "nil?":
		nargs(0)
		e.f = append(operand(recv), piece{0, " == nil"})
		e.t, e.simple = tyBool, false
		return e
	case name == "empty?" && recv.t == tyStr:
		nargs(0)
		e.f = append(operand(recv), piece{0, ` == ""`})
		e.t, e.simple = tyBool, false
		return e
	case name == "empty?" && recv.t == tyArr:
		nargs(0)
		e.f = append(append(frag{{0, "#"}}, operand(recv)...), piece{0, " == 0"})
		e.t, e.simple = tyBool, false
		return e
	case (name == "size" || name == "length" || name == "count") && recv.t == tyArr:
		nargs(0)
		e.f = append(frag{{0, "#"}}, operand(recv)...)
		e.t = tyNum
		return e
	case name == "join" && recv.t == tyArr && (recv.elem == tyStr || recv.elem == tyNum):
		nargs(0, 1)
		e.f = append(frag{{recv.line, "table.concat("}}, recv.f...)
		if len(args) == 1 {
			if args[0].t != tyStr {
				p.unsupported(m.line, ".join with a separator that is not a string")
			}
			e.f = e.f.add(0, ", ")
			e.f = append(e.f, args[0].f...)
		}
		e.f = e.f.add(0, ")")
		e.t = tyStr
		return e
	}
	p.unsupported(m.line, "method call .%s", name)
	return nil
}

func (p *parser) index(c ctx, recv *expr, open token) *expr {
	p.next()
	p.skipNL()
	i := p.parseArgExpr(c)
	p.skipNL()
	p.expectOp("]")
	if recv.t != tyArr || i.t != tyNum || len(i.f) != 1 || strings.HasPrefix(i.f[0].text, "-") {
		p.unsupported(open.line, "indexing with [] (only array[literal integer >= 0] is supported)")
	}
	n, err := strconv.Atoi(i.f[0].text)
	if err != nil {
		p.unsupported(open.line, "indexing with [] (only array[literal integer >= 0] is supported)")
	}
	base := recv.f
	if len(base) != 1 || !isLuaIdent(base[0].text) {
		// only a name, a call or a parenthesised expression can be indexed in Lua
		base = append(append(frag{{0, "("}}, base...), piece{0, ")"})
	}
	f := append(base, piece{0, "[" + strconv.Itoa(n+1) + "]"})
	return &expr{f: f, t: recv.elem, line: recv.line, simple: true}
}

func (p *parser) parsePrimary(c ctx) *expr {
	t := p.peek()
	switch t.k {
	case tNum:
		p.next()
		return &expr{f: frag{{t.line, t.s}}, t: tyNum, line: t.line, simple: true}
	case tStr:
		p.next()
		parts := t.parts
		// "a" "b" is one string in Ruby
		for n := p.peek(); n.k == tStr; n = p.peek() {
			p.next()
			parts = append(append([]part(nil), parts...), n.parts...)
		}
		return p.strExpr(c, parts, t.line)
	case tWords:
		p.next()
		e := &expr{isArr: true, t: tyArr, elem: tyStr, line: t.line, simple: true}
		for _, w := range t.words {
			e.elems = append(e.elems, p.strExpr(c, w, t.line))
		}
		e.f = table(t.line, elemFrags(e.elems), t.end)
		return e
	case tSym:
		p.next()
		return &expr{f: frag{{t.line, luaQuote(t.s)}}, t: tyStr, line: t.line, simple: true, lit: true, str: t.s, sym: true}
	case tLabel:
		p.syntax(t, "unexpected hash key")
	case tConst:
		return p.constant(c)
	case tIdent:
		return p.identifier(c)
	case tOp:
		switch t.s {
		case "[":
			return p.arrayLit(c)
		case "{":
			return p.hashLit(c)
		case "(":
			p.next()
			p.skipNL()
			if n := p.peek(); n.isOp(")") {
				p.next()
				return &expr{f: frag{{t.line, "nil"}}, t: tyNil, line: t.line, simple: true}
			}
			e := p.parseExprKw(c)
			p.skipNL()
			if n := p.peek(); !n.isOp(")") {
				if n.k == tNL {
					p.unsupported(n.line, "several statements in parentheses")
				}
				p.syntax(n, "expected \")\"")
			}
			p.next()
			return parenthesize(e)
		case "->":
			p.unsupported(t.line, "lambda ->")
		case "::":
			p.unsupported(t.line, "scope operator ::")
		case "*", "**", "&":
			p.unsupported(t.line, "splat or block argument %s", t.s)
		}
	}
	p.syntax(t, "expected a value")
	return nil
}

func (p *parser) identifier(c ctx) *expr {
	t := p.next()
	switch t.s {
	case "nil":
		return &expr{f: frag{{t.line, "nil"}}, t: tyNil, line: t.line, simple: true}
	case "true", "false":
		return &expr{f: frag{{t.line, t.s}}, t: tyBool, line: t.line, simple: true, bool: true, bval: t.s == "true"}
	case "if", "unless":
		p.unsupported(t.line, "%s used as a value", t.s)
	}
	if what := unsupportedKw[t.s]; what != "" {
		p.unsupported(t.line, "%s", what)
	}
	if keywords[t.s] {
		p.syntax(t, "unexpected keyword")
	}
	if v := p.lookup(t.s); v != nil {
		if v.poisoned != 0 {
			p.poisoned(t, v)
		}
		return &expr{f: frag{{t.line, v.lua}}, t: v.t, elem: v.elem, line: t.line, simple: true}
	}
	if (t.s == "src" || t.s == "dst") && c == ctxTask {
		if a := p.peek(); a.isOp("(") && !a.sp {
			p.next()
			p.expectOp(")")
		}
		return &expr{f: frag{{t.line, t.s}}, t: tyStr, line: t.line, simple: true, host: true}
	}
	switch {
	case t.s == "src" || t.s == "dst":
		p.unsupported(t.line, "%s outside a local or remote block", t.s)
	case directives[t.s] || blockNames[t.s] != "" || t.s == "sh" || t.s == "ssh" || t.s == "rsync" ||
		t.s == "rsync_remote" || t.s == "p" || t.s == "puts":
		p.unsupported(t.line, "%s used as a value", t.s)
	}
	p.unsupported(t.line, "method %s", t.s)
	return nil
}

// constant handles user constants and the ENV, File and Dir receivers.
func (p *parser) constant(c ctx) *expr {
	t := p.next()
	if v := p.lookup(t.s); v != nil {
		return &expr{f: frag{{t.line, v.lua}}, t: v.t, elem: v.elem, line: t.line, simple: true}
	}
	switch t.s {
	case "ENV":
		return p.env(c, t)
	case "File", "Dir":
		n := p.peek()
		if !n.isOp(".") {
			p.unsupported(t.line, "constant %s", t.s)
		}
		p.next()
		m := p.next()
		if m.k != tIdent {
			p.syntax(m, "expected a method name")
		}
		args, _ := p.parseCallArgs(c)
		if b := p.peek(); b.isKw("do") || b.isOp("{") && !b.sp {
			p.unsupported(b.line, "block passed to %s.%s", t.s, m.s)
		}
		switch {
		case t.s == "File" && m.s == "expand_path" && (len(args) == 1 || len(args) == 2):
			for _, a := range args {
				if a.t != tyStr {
					p.unsupported(m.line, "File.expand_path of a value that is not a string")
				}
			}
			p.needExpand = true
			f := append(frag{{t.line, "expand_path__("}}, args[0].f...)
			if len(args) == 2 {
				f = f.add(0, ", ")
				f = append(f, args[1].f...)
			}
			return &expr{f: f.add(0, ")"), t: tyStr, line: t.line, simple: true}
		case t.s == "Dir" && (m.s == "pwd" || m.s == "getwd") && len(args) == 0:
			p.note(t.line, "Dir.pwd: $PWD, the directory grifork was started from")
			return &expr{f: frag{{t.line, `(os.getenv("PWD") or error("Dir.pwd: PWD is not set"))`}}, t: tyStr, line: t.line, simple: true}
		}
		p.unsupported(m.line, "%s.%s", t.s, m.s)
	}
	p.unsupported(t.line, "constant %s", t.s)
	return nil
}

func (p *parser) env(c ctx, t token) *expr {
	n := p.peek()
	switch {
	case n.isOp("[") && !n.sp:
		p.next()
		k := p.parseArgExpr(c)
		p.expectOp("]")
		return envGet(t.line, p.envKey(k))
	case n.isOp("."):
		p.next()
		m := p.next()
		args, _ := p.parseCallArgs(c)
		if b := p.peek(); b.isKw("do") || b.isOp("{") && !b.sp {
			p.unsupported(b.line, "block passed to ENV.%s", m.s)
		}
		switch {
		case m.s == "fetch" && len(args) == 1:
			key := p.envKey(args[0])
			f := append(frag{{t.line, "(os.getenv("}}, key.f...)
			f = f.add(0, ") or error(")
			if key.lit {
				f = f.add(0, luaQuote(`key not found: "`+key.str+`"`))
			} else {
				f = append(f, concat(concat(litStr(0, `key not found: "`), key), litStr(0, `"`)).f...)
			}
			return &expr{f: f.add(0, "))"), t: tyStr, line: t.line, simple: true}
		case m.s == "fetch" && len(args) == 2:
			key := p.envKey(args[0])
			if args[1].isArr || args[1].isHash {
				p.unsupported(m.line, "ENV.fetch default that is an array or a hash")
			}
			f := append(frag{{t.line, "(os.getenv("}}, key.f...)
			f = f.add(0, ") or ")
			f = append(f, operand(args[1])...)
			rt := tyUnknown
			switch args[1].t {
			case tyStr:
				rt = tyStr
			case tyNil, tyStrNil:
				rt = tyStrNil
			}
			return &expr{f: f.add(0, ")"), t: rt, line: t.line, simple: true}
		case (m.s == "key?" || m.s == "has_key?" || m.s == "include?" || m.s == "member?") && len(args) == 1:
			key := p.envKey(args[0])
			f := append(frag{{t.line, "(os.getenv("}}, key.f...)
			return &expr{f: f.add(0, ") ~= nil)"), t: tyBool, line: t.line, simple: true}
		}
		p.unsupported(m.line, "ENV.%s with %d arguments", m.s, len(args))
	}
	p.unsupported(t.line, "ENV used other than as ENV['X'] or ENV.fetch")
	return nil
}

func (p *parser) envKey(k *expr) *expr {
	if k.t != tyStr {
		p.unsupported(k.line, "ENV key that is not a string")
	}
	return k
}

func envGet(line int, key *expr) *expr {
	f := append(frag{{line, "os.getenv("}}, key.f...)
	return &expr{f: f.add(0, ")"), t: tyStrNil, line: line, simple: true}
}

func (p *parser) arrayLit(c ctx) *expr {
	open := p.next()
	e := &expr{isArr: true, t: tyArr, line: open.line, simple: true}
	first := true
	for {
		p.skipNL()
		if n := p.peek(); n.isOp("]") {
			e.endLine = p.next().line
			break
		}
		if !first {
			p.expectOp(",")
			p.skipNL()
			if n := p.peek(); n.isOp("]") {
				e.endLine = p.next().line
				break
			}
		}
		first = false
		if _, ok := p.hashKey(c); ok {
			p.unsupported(p.peek().line, "hash without braces inside an array")
		}
		v := p.parseArgExpr(c)
		if v.isHash {
			v = p.genericHash(v)
		}
		e.elems = append(e.elems, v)
	}
	e.elem = tyUnknown
	for i, v := range e.elems {
		if i == 0 {
			e.elem = v.t
		} else if v.t != e.elem {
			e.elem = tyUnknown
		}
	}
	e.f = table(open.line, elemFrags(e.elems), e.endLine)
	return e
}

func (p *parser) hashLit(c ctx) *expr {
	open := p.next()
	e := &expr{isHash: true, t: tyHash, line: open.line, simple: true}
	first := true
	for {
		p.skipNL()
		if n := p.peek(); n.isOp("}") {
			e.endLine = p.next().line
			return p.genericHash(e)
		}
		if !first {
			p.expectOp(",")
			p.skipNL()
			if n := p.peek(); n.isOp("}") {
				e.endLine = p.next().line
				return p.genericHash(e)
			}
		}
		first = false
		t := p.peek()
		key, ok := p.hashKey(c)
		if !ok {
			p.syntax(t, "expected key: value in a hash")
		}
		p.skipNL()
		e.pairs = append(e.pairs, hpair{key: key, line: t.line, val: p.parseArgExpr(c)})
	}
}

// genericHash gives a hash literal its plain Lua table text.
func (p *parser) genericHash(e *expr) *expr {
	var entries []frag
	for _, kv := range e.pairs {
		v := kv.val
		if v.isHash {
			v = p.genericHash(v)
		}
		entries = append(entries, append(frag{{kv.line, luaKey(kv.key) + " = "}}, v.f...))
	}
	q := *e
	q.f = table(e.line, entries, e.endLine)
	return &q
}

func elemFrags(es []*expr) []frag {
	out := make([]frag, len(es))
	for i, e := range es {
		out[i] = e.f
	}
	return out
}

// table renders `{ a, b }`; endLine places the closing brace (0: right after).
func table(line int, entries []frag, endLine int) frag {
	if len(entries) == 0 {
		return frag{{line, "{}"}}
	}
	f := frag{{line, "{ "}}
	for i, en := range entries {
		if i > 0 {
			f = f.add(0, ", ")
		}
		f = append(f, en...)
	}
	return f.add(endLine, " }")
}

func luaKey(k string) string {
	if isLuaIdent(k) {
		return k
	}
	return "[" + luaQuote(k) + "]"
}

func isLuaIdent(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return !luaKeyword[s]
}

var luaKeyword = map[string]bool{}

func init() {
	for _, k := range strings.Fields("and break do else elseif end false for function goto if in local nil not or repeat return then true until while") {
		luaKeyword[k] = true
	}
}

// ---- strings

// strExpr converts a string literal with interpolation to a Lua concatenation.
func (p *parser) strExpr(c ctx, parts []part, line int) *expr {
	if len(parts) > 0 && parts[0].line > 0 {
		line = parts[0].line
	}
	if s, ok := constString(parts); ok {
		return litStr(line, s)
	}
	var items []*expr
	for _, pt := range parts {
		if !pt.isExpr {
			items = append(items, litStr(pt.line, pt.lit))
			continue
		}
		q := p.sub(pt.toks)
		q.skipNL()
		if q.peek().k == tEOF {
			continue // "#{}" is ""
		}
		e := q.parseExprKw(c)
		q.skipNL()
		if n := q.peek(); n.k != tEOF {
			p.unsupported(n.line, "several statements in #{}")
		}
		items = append(items, p.toString(e, len(parts) == 1))
	}
	// fold literals: "/srv/#{'x'}" is "/srv/x"
	var folded []*expr
	for _, it := range items {
		if n := len(folded); n > 0 && it.lit && folded[n-1].lit {
			folded[n-1] = litStr(folded[n-1].line, folded[n-1].str+it.str)
			continue
		}
		folded = append(folded, it)
	}
	items = folded
	if len(items) == 0 {
		return litStr(line, "")
	}
	e := items[0]
	for _, it := range items[1:] {
		p.countOp(it.line)
		e = concat(e, it)
	}
	if e.t == tyNum {
		e = p.toString(e, true)
	}
	return e
}

func litStr(line int, s string) *expr {
	return &expr{f: frag{{line, luaQuote(s)}}, t: tyStr, line: line, simple: true, lit: true, str: s}
}

// toString converts e the way Ruby's to_s / interpolation does. Numbers stay
// as they are unless alone (Lua's .. converts them).
func (p *parser) toString(e *expr, alone bool) *expr {
	wrap := func(head, tail string) *expr {
		f := append(frag{{e.line, head}}, e.f...)
		return &expr{f: f.add(0, tail), t: tyStr, line: e.line, simple: true}
	}
	switch e.t {
	case tyStr:
		return e
	case tyNum:
		if alone {
			return wrap("tostring(", ")")
		}
		return e
	case tyBool:
		return wrap("tostring(", ")")
	case tyNil:
		return litStr(e.line, "")
	case tyStrNil:
		return wrap("(", ` or "")`)
	case tyArr, tyHash:
		p.unsupported(e.line, "converting an array or hash to a string")
	}
	f := append(frag{{e.line, "tostring("}}, operand(e)...)
	f = f.add(0, ` == nil and "" or `)
	f = append(f, operand(e)...)
	return &expr{f: f.add(0, ")"), t: tyStr, line: e.line, simple: true}
}

// luaQuote writes s as a Lua string literal (lualit: the one writer).
func luaQuote(s string) string { return lualit.String(s) }
