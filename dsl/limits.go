package dsl

import (
	"context"
	"fmt"
	"regexp"
	"runtime/metrics"
	"strings"
	"time"

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

// maxTopLevelHeap bounds the Go heap while a Griforkfile's top level runs: then
// the process holds little besides the Lua VM, so a heap this large is a top
// level that runs away (a table or string that grows in a loop), which would
// otherwise grow until the process dies of it with a crash dump. gopher-lua has
// no allocation hook, hence a watch on the heap, which stops Lua between
// instructions.
const maxTopLevelHeap = 1 << 30

// memoryError is the cause of a top level stopped by watchMemory.
type memoryError struct{ limit uint64 }

func (e *memoryError) Error() string {
	return fmt.Sprintf("out of memory: the Griforkfile's top level used more than %d MiB", e.limit>>20)
}

// watchMemory returns ctx, cancelled with a *memoryError once the Go heap holds
// more than limit bytes of objects, and the function that ends the watch.
func watchMemory(ctx context.Context, limit uint64) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 && sample[0].Value.Uint64() > limit {
				cancel(&memoryError{limit: limit})
				return
			}
		}
	}()
	return ctx, func() {
		close(done)
		cancel(nil)
	}
}
