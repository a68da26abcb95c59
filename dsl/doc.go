// Package dsl loads a Griforkfile.lua into one gopher-lua VM and runs its task
// blocks.
//
// One goroutine owns the VM (an LState is not safe for concurrent use). The file's
// top level runs once, in Load. Every task invocation (Run, Finish) is a Lua
// coroutine; a helper that waits (sh, ssh, rsync, rsync_remote, sleep) starts its
// work on a goroutine of its own (one of a pool) and yields, and the VM goroutine resumes the
// task's outermost coroutine with the result. Tasks therefore overlap as much as
// their I/O allows, while all Lua state stays on one goroutine. The prelude
// (package lua) makes pcall, xpcall and coroutines pass those yields through.
package dsl
