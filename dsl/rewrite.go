package dsl

import (
	"fmt"
	"strconv"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// gopher-lua v1.1.2 compiles the list part of a table constructor wrongly in
// three cases, without an error:
//   - beyond item 511*50 (25,550), where OP_SETLIST needs its extended form (a page
//     number in the next instruction word): items are lost or, nested in another
//     constructor, the assignment of the whole table (upstream yuin/gopher-lua
//     pull request 537);
//   - a keyed field after a multiple of 50 list items flushes the last 50 items
//     again from registers that the key or value has since overwritten;
//   - a final call or "..." after a multiple of 50 items writes its values over
//     the first items of the last 50.
//
// The compiler flushes list items to the table every lua.FieldsPerFlush items.
var maxSetList = 511 * lua.FieldsPerFlush

// maxDepth bounds how deeply a Griforkfile's statements and expressions nest.
// The compiler recurses on them: far deeper input would exhaust the Go stack,
// which ends the process with a crash dump instead of an error. Lua 5.1 itself
// stops at 200 levels, but a long chain such as a+b+c+... nests once per term.
const maxDepth = 50000

// fixChunk rewrites a parsed Griforkfile before it is compiled, so that what
// gopher-lua would get wrong comes out right or is refused with an *Error naming
// file: every table constructor it would compile wrongly, nesting deeper than
// maxDepth, and tail calls (see tailCallName).
func fixChunk(file string, chunk []ast.Stmt) error {
	w := &walker{file: file}
	w.stmts(chunk)
	if w.err != nil {
		return w.err
	}
	return nil
}

// fixTable rewrites the list items of t from the first one that the compiler
// would get wrong into keyed fields [i] = value. It keeps the items before the cut
// a list whose length is not a multiple of 50, so no keyed field ever triggers a
// second flush. Lua leaves the order of a constructor's assignments undefined, and
// every value is still evaluated in source order, so the table is the same. A
// final call or "..." spreads its values after the last list item, which only a
// list can do: when it would be misplaced, it is an error at its line.
func fixTable(file string, t *ast.TableExpr) *Error {
	fields := t.Fields
	var spread *ast.Field // a final call or "...", expanded to all its values
	if n := len(fields); n > 0 && fields[n-1].Key == nil && isMultiValue(fields[n-1].Value) {
		spread, fields = fields[n-1], fields[:n-1]
	}
	items, cut := 0, -1 // list items seen; keep items 1..cut, when cut >= 0
	for _, f := range fields {
		switch {
		case f.Key == nil:
			if items++; items > maxSetList && cut < 0 {
				cut = maxSetList - 1
			}
		case items > 0 && items%lua.FieldsPerFlush == 0 && cut < 0:
			cut = items - 1
		}
	}
	if spread != nil && (cut >= 0 || items > 0 && items%lua.FieldsPerFlush == 0) {
		return &Error{File: file, Line: spread.Value.Line(), Msg: fmt.Sprintf(
			"the values of this call or '...' at the end of a table after %d items would land in the wrong place (a limit of this Lua): add them with table.insert, or put the call in parentheses to keep only its first value", items)}
	}
	if cut < 0 {
		return nil
	}
	i := 0
	for _, f := range fields {
		if f.Key != nil {
			continue
		}
		if i++; i > cut {
			key := &ast.NumberExpr{Value: strconv.Itoa(i)}
			key.SetLine(f.Value.Line())
			key.SetLastLine(f.Value.LastLine())
			f.Key = key
		}
	}
	return nil
}

// isMultiValue reports an expression whose every value goes into a table
// constructor when it comes last: a call or "..." not in parentheses.
func isMultiValue(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.FuncCallExpr:
		return !e.AdjustRet
	case *ast.Comma3Expr:
		return !e.AdjustRet
	}
	return false
}

// tailCallName is the global Go function through which the rewrite passes the
// values of every `return f(...)` of a Griforkfile: passThrough(f(...)) returns
// them all, and f's call becomes an ordinary one. gopher-lua runs a Lua tail
// call in place but counts it in the frame, and an error, Ctrl-C included,
// then builds a stack trace with one line per tail call: `local function f()
// return f() end f()` grew past a gigabyte and died of it. An ordinary call
// counts toward the call-depth limit instead and ends in "stack overflow".
const tailCallName = "__grifork_return"

func passThrough(call *ast.FuncCallExpr) *ast.FuncCallExpr {
	fn := &ast.IdentExpr{Value: tailCallName}
	wrap := &ast.FuncCallExpr{Func: fn, Args: []ast.Expr{call}}
	for _, n := range []ast.PositionHolder{fn, wrap} {
		n.SetLine(call.Line())
		n.SetLastLine(call.LastLine())
	}
	return wrap
}

// walker visits every statement and expression of a chunk, fixing table
// constructors and stopping at the first error.
type walker struct {
	file  string
	depth int
	err   *Error
}

// enter reports whether the walk goes on into a node at line.
func (w *walker) enter(line int) bool {
	w.depth++
	if w.err == nil && w.depth > maxDepth {
		w.err = &Error{File: w.file, Line: line, Msg: fmt.Sprintf("statements or expressions nested more than %d levels deep", maxDepth)}
	}
	return w.err == nil
}

func (w *walker) leave() { w.depth-- }

func (w *walker) stmts(stmts []ast.Stmt) {
	for _, s := range stmts {
		w.stmt(s)
	}
}

func (w *walker) stmt(s ast.Stmt) {
	defer w.leave()
	if !w.enter(s.Line()) {
		return
	}
	switch s := s.(type) {
	case *ast.AssignStmt:
		w.exprs(s.Lhs...)
		w.exprs(s.Rhs...)
	case *ast.LocalAssignStmt:
		w.exprs(s.Exprs...)
	case *ast.FuncCallStmt:
		w.exprs(s.Expr)
	case *ast.DoBlockStmt:
		w.stmts(s.Stmts)
	case *ast.WhileStmt:
		w.exprs(s.Condition)
		w.stmts(s.Stmts)
	case *ast.RepeatStmt:
		w.stmts(s.Stmts)
		w.exprs(s.Condition)
	case *ast.IfStmt:
		w.exprs(s.Condition)
		w.stmts(s.Then)
		w.stmts(s.Else)
	case *ast.NumberForStmt:
		w.exprs(s.Init, s.Limit, s.Step)
		w.stmts(s.Stmts)
	case *ast.GenericForStmt:
		w.exprs(s.Exprs...)
		w.stmts(s.Stmts)
	case *ast.FuncDefStmt:
		if s.Name != nil {
			w.exprs(s.Name.Func, s.Name.Receiver)
		}
		w.exprs(s.Func)
	case *ast.ReturnStmt:
		w.exprs(s.Exprs...)
		if len(s.Exprs) == 1 && isMultiValue(s.Exprs[0]) {
			if call, ok := s.Exprs[0].(*ast.FuncCallExpr); ok {
				s.Exprs[0] = passThrough(call)
			}
		}
	}
}

func (w *walker) exprs(es ...ast.Expr) {
	for _, e := range es {
		if e != nil {
			w.expr(e)
		}
	}
}

func (w *walker) expr(e ast.Expr) {
	defer w.leave()
	if !w.enter(e.Line()) {
		return
	}
	switch e := e.(type) {
	case *ast.TableExpr:
		if w.err = fixTable(w.file, e); w.err != nil {
			return
		}
		for _, f := range e.Fields {
			w.exprs(f.Key, f.Value)
		}
	case *ast.AttrGetExpr:
		w.exprs(e.Object, e.Key)
	case *ast.FuncCallExpr:
		w.exprs(e.Func, e.Receiver)
		w.exprs(e.Args...)
	case *ast.LogicalOpExpr:
		w.exprs(e.Lhs, e.Rhs)
	case *ast.RelationalOpExpr:
		w.exprs(e.Lhs, e.Rhs)
	case *ast.StringConcatOpExpr:
		w.exprs(e.Lhs, e.Rhs)
	case *ast.ArithmeticOpExpr:
		w.exprs(e.Lhs, e.Rhs)
	case *ast.UnaryMinusOpExpr:
		w.exprs(e.Expr)
	case *ast.UnaryNotOpExpr:
		w.exprs(e.Expr)
	case *ast.UnaryLenOpExpr:
		w.exprs(e.Expr)
	case *ast.FunctionExpr:
		w.stmts(e.Stmts)
	}
}
