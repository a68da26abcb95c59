package lua

import _ "embed"

// Prelude is the chunk every Griforkfile runs on. The dsl package runs it once per
// VM, before the Griforkfile, with two arguments: the token that task helpers yield
// to the scheduler, and a table of Go primitives (the DSL functions). It keeps both
// in locals, so a script can neither see nor replace them. It returns the body of
// the task coroutines and the value they yield when a block has returned.
//
//go:embed prelude.lua
var Prelude string

// Starter is the commented Griforkfile.lua that grifork init writes.
//
//go:embed starter.lua
var Starter string
