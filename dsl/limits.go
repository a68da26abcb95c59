package dsl

import (
	"regexp"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// maxCallDepth is how deeply Lua calls may nest, tail calls included (see
// tailCallName). It stays well below Lua 5.1's 20,000 because gopher-lua builds
// the stack trace of an error in time quadratic in the depth. maxRegistry bounds
// each coroutine's value stack, in values (16 bytes each).
const (
	maxCallDepth = 5000
	maxRegistry  = 1 << 19
)

// maxRep bounds the result of string.rep: gopher-lua allocates it in one piece,
// and an allocation the machine cannot serve ends the process with a Go crash
// dump instead of a Lua error.
const maxRep = 256 << 20

// longFormat matches a string.format directive whose width or precision has
// three digits or more, which Lua 5.1 refuses and Go's fmt would allocate.
var longFormat = regexp.MustCompile(`%[-+ #0]*(\d{3,}|\d*\.\d{3,})`)

// limitStrings replaces string.rep and string.format with versions that refuse
// results too large to allocate safely, with a Lua error.
func limitStrings(L *lua.LState) {
	str := L.GetGlobal("string").(*lua.LTable)
	rep := str.RawGetString("rep").(*lua.LFunction)
	str.RawSetString("rep", L.NewFunction(func(L *lua.LState) int {
		s, n := L.CheckString(1), L.CheckInt(2)
		if n > 0 && len(s) > 0 && n > maxRep/len(s) {
			L.RaiseError("string.rep: the result would be over %d MiB", maxRep>>20)
		}
		L.Push(rep)
		L.Push(lua.LString(s))
		L.Push(lua.LNumber(n))
		L.Call(2, 1)
		return 1
	}))
	format := str.RawGetString("format").(*lua.LFunction)
	str.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
		f := L.CheckString(1)
		if m := longFormat.FindString(strings.ReplaceAll(f, "%%", "")); m != "" {
			L.RaiseError("string.format: invalid format %q (width or precision too long)", m)
		}
		top := L.GetTop()
		L.Push(format)
		for i := 1; i <= top; i++ {
			L.Push(L.Get(i))
		}
		L.Call(top, 1)
		return 1
	}))
}
