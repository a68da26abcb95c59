package dsl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grifork/grifork/core"
	"github.com/grifork/grifork/core/output"
	"github.com/grifork/grifork/groups"
	"github.com/grifork/grifork/internal/gopool"
	luasrc "github.com/grifork/grifork/lua"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Options are what a script is loaded with. What its tasks run with comes
// later, from Bind.
type Options struct {
	Printer *output.Printer // print()/p() output; nil = standard output
	Logger  *slog.Logger    // warnings of the load, and of task runs until Bind; nil = discard
	// Groups returns the node group sources, given the files of the inventory
	// directive (none when it is not set); nil: node groups are errors.
	Groups func(ctx context.Context, inventories []string) (*groups.Resolver, error)
	// SkipHosts leaves the hosts and inventory directives unread: a
	// grifork-mode node gets its tree from its parent, and the inventory
	// files stay on the root.
	SkipHosts bool
	// HostsGiven: the command line replaces the hosts directive (-H,
	// --retry), so its entries are not expanded (a node group they name is
	// not resolved, nor its upcall run) and an empty list is no error; the
	// inventory directive is still read, for the command line's groups.
	HostsGiven bool

	maxHeap uint64 // tests: the top level's memory limit instead of maxTopLevelHeap
}

// Script is a loaded Griforkfile: its settings and its task blocks. Run and Finish
// are safe for concurrent use.
type Script struct {
	Config core.Config
	// Groups resolves node groups for the command line's selection too; nil
	// without Options.Groups.
	Groups *groups.Resolver
	// Selected says, for each host that a node group or an inventory chose or
	// set up (keyed as core.Host.String), where it came from and where its
	// connection settings came from.
	Selected map[string]string

	main     Source
	override *Source
	opts     Options
	bound    atomic.Pointer[binding] // read by tasks on any goroutine
	printer  *output.Printer
	defined  map[core.Block]bool // written by Load only
	maxHeap  uint64              // the top level's memory limit

	// vm is held by whoever runs the VM: its goroutine, for each thing posted
	// to it, or a task's caller that starts the task itself (startHere).
	vm        sync.Mutex
	calls     chan func()  // work for the VM goroutine
	resumes   chan func()  // helpers' results, which it takes before new tasks
	workers   *gopool.Pool // the goroutines helpers' operations run on
	life      context.Context
	stop      context.CancelFunc
	done      chan struct{} // closed when the VM goroutine has ended
	closeOnce sync.Once

	// Owned by the holder of vm.
	L              *lua.LState
	token          *lua.LUserData // what helpers yield; only Go and the prelude hold it
	runner         *lua.LFunction // the prelude's body of task coroutines
	blockDone      lua.LValue     // what runner yields when a block has returned
	idle           []*lua.LState  // coroutines whose last block returned, for reuse
	blocks         map[core.Block]*lua.LFunction
	current        *task // the task whose coroutine is running
	pass           *pass // the file whose top level is running
	warnedParallel bool
}

// preludeName is the chunk name of the prelude, which positions in errors skip.
const preludeName = "prelude.lua"

// binding is what tasks run with (see Bind).
type binding struct {
	exec core.Exec // nil until Bind: helpers fail
	log  *slog.Logger
}

// errClosed is returned by tasks started after (or cut short by) Close.
var errClosed = errors.New("the Griforkfile's VM is closed")

// Load runs the prelude, then the top level of main, then that of override (whose
// settings and blocks replace main's). Errors in either file are *Error.
func Load(ctx context.Context, main Source, override *Source, opts Options) (*Script, error) {
	s := &Script{
		main:     main,
		override: override,
		opts:     opts,
		printer:  opts.Printer,
		maxHeap:  opts.maxHeap,
		calls:    make(chan func()),
		resumes:  make(chan func()),
		done:     make(chan struct{}),
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.bound.Store(&binding{log: log})
	if s.printer == nil {
		s.printer = output.NewPrinter(os.Stdout, nil)
	}
	s.life, s.stop = context.WithCancel(context.Background())
	s.workers = gopool.New(s.life.Done(), maxIdle)
	go s.loop()

	errc := make(chan error, 1)
	if err := s.post(ctx, func() { errc <- s.load(ctx) }); err != nil {
		s.Close()
		return nil, err
	}
	if err := <-errc; err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Sources returns the files the script was loaded from (grifork mode ships them).
func (s *Script) Sources() (main Source, override *Source) { return s.main, s.override }

// Bind gives the tasks what they run with: ex runs every command of the
// helpers, log (nil: the load's logger) logs the task runs. It comes after Load
// because the CLI builds both from the settings the Griforkfile makes (the SSH
// transport, the log file). Call it before the first Run; until then helpers
// fail ("no executor"). A later Bind replaces the binding for later commands.
func (s *Script) Bind(ex core.Exec, log *slog.Logger) {
	if log == nil {
		log = s.logger()
	}
	s.bound.Store(&binding{exec: ex, log: log})
}

func (s *Script) logger() *slog.Logger { return s.bound.Load().log }

// Defined reports whether the Griforkfile has block b. (On a grifork-mode node,
// the core runs only the node's blocks.)
func (s *Script) Defined(b core.Block) bool { return s.defined[b] }

// Close stops the VM goroutine; tasks still running return an error. Idempotent.
func (s *Script) Close() {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
	})
}

// loop is the VM goroutine: it runs what is posted to it, one thing at a time.
// A helper's result goes before a task waiting to start: finishing tasks frees
// their coroutines for the next ones, where starting first would give every
// task of a large generation a coroutine of its own at once.
func (s *Script) loop() {
	defer close(s.done)
	for {
		select {
		case f := <-s.resumes:
			s.locked(f)
			continue
		default:
		}
		select {
		case f := <-s.resumes:
			s.locked(f)
		case f := <-s.calls:
			s.locked(f)
		case <-s.life.Done():
			s.locked(func() {
				if s.L != nil {
					s.L.Close()
				}
			})
			return
		}
	}
}

// locked runs f holding the VM.
func (s *Script) locked(f func()) {
	s.vm.Lock()
	defer s.vm.Unlock()
	f()
}

// post hands f to the VM goroutine.
func (s *Script) post(ctx context.Context, f func()) error {
	select {
	case s.calls <- f:
		return nil
	case <-s.life.Done():
		return errClosed
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// load runs on the VM goroutine.
func (s *Script) load(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{File: s.main.Name, Msg: fmt.Sprintf("internal error: %v", r)}
		}
	}()
	s.L = lua.NewState(luaOptions)
	L := s.L
	openLibs(L)
	setupReport(L)
	s.token = L.NewUserData()
	prelude, err := L.Load(strings.NewReader(luasrc.Prelude), preludeName)
	if err != nil {
		return fmt.Errorf("dsl: prelude: %w", err)
	}
	L.Push(prelude)
	L.Push(s.token)
	L.Push(s.primitives())
	if err := L.PCall(2, 2, nil); err != nil {
		return fmt.Errorf("dsl: prelude: %w", err)
	}
	runner, ok := L.Get(-2).(*lua.LFunction)
	if !ok {
		return fmt.Errorf("dsl: prelude: returned %s, want the task runner", L.Get(-2).Type())
	}
	s.runner, s.blockDone = runner, L.Get(-1)
	L.Pop(2)

	sources := []Source{s.main}
	if s.override != nil {
		sources = append(sources, *s.override)
	}
	var names []string
	for _, src := range sources {
		names = append(names, src.Name)
	}
	limit := s.maxHeap
	if limit == 0 {
		limit = maxTopLevelHeap
	}
	ctx, stopWatch := watchMemory(ctx, limit)
	defer stopWatch()
	L.SetContext(ctx)
	defer L.RemoveContext()
	var passes []*pass
	for _, src := range sources {
		fn, err := compile(L, src)
		if err != nil {
			return err
		}
		s.pass = newPass(src)
		L.Push(fn)
		err = L.PCall(0, 0, nil)
		p := s.pass
		s.pass = nil
		if err != nil {
			var me *memoryError
			if errors.As(context.Cause(ctx), &me) {
				e := runtimeError(err, names, src.Name)
				e.Msg = me.Error()
				return e
			}
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return runtimeError(err, names, src.Name)
		}
		passes = append(passes, p)
	}
	s.Config, s.blocks = merge(passes)
	if !s.opts.SkipHosts {
		if err := s.expand(ctx, passes); err != nil {
			return err
		}
	}
	if err := validate(passes, &s.Config); err != nil {
		return err
	}
	if !s.opts.SkipHosts && !s.opts.HostsGiven {
		if err := checkHosts(passes, s.Config); err != nil {
			return err
		}
	}
	s.defined = map[core.Block]bool{}
	for b := range s.blocks {
		s.defined[b] = true
	}
	return nil
}

// expand reads the inventory and hosts directives that the merge kept (the
// last file's that set each) into the hosts.
func (s *Script) expand(ctx context.Context, passes []*pass) error {
	var hostsPass *pass
	var inventories []string
	for _, p := range passes {
		if _, ok := p.lines["hosts"]; ok {
			hostsPass = p
		}
		if _, ok := p.lines["inventory"]; ok {
			inventories = p.inventories
		}
	}
	if s.opts.Groups != nil {
		g, err := s.opts.Groups(ctx, inventories)
		if err != nil {
			for _, p := range slices.Backward(passes) {
				if line, ok := p.lines["inventory"]; ok {
					return &Error{File: p.src.Name, Line: line, Msg: err.Error()}
				}
			}
			return err
		}
		s.Groups = g
	} else if len(inventories) > 0 {
		return errors.New("inventory: no inventory can be read here")
	}
	if hostsPass == nil || s.opts.HostsGiven {
		return nil
	}
	s.Selected = map[string]string{}
	x := &expander{ctx: ctx, groups: s.Groups, notes: s.Selected}
	hosts, err := x.hosts(hostsPass.hosts)
	if err != nil {
		return &Error{File: hostsPass.src.Name, Line: hostsPass.lines["hosts"], Msg: err.Error()}
	}
	s.Config.Hosts = hosts
	return nil
}

// luaOptions keep a coroutine small: a task is one, and a grifork-mode dry run
// has one for every host waiting at once. gopher-lua's defaults give each a fixed
// 5,120-slot data stack and a 256-frame call stack (about 100 KiB); these start at
// about 3 KiB and grow as a block needs, up to a larger bound than the defaults.
//
// The bounds make runaway recursion end in a Lua error ("stack overflow",
// "registry overflow") instead of growing until the process dies.
var luaOptions = lua.Options{
	SkipOpenLibs:        true,
	RegistrySize:        128, // gopher-lua's least
	RegistryMaxSize:     maxRegistry,
	RegistryGrowStep:    maxRegistry / 64, // each step copies the whole stack
	CallStackSize:       maxCallDepth,
	MinimizeStackMemory: true,
}

// maxIdle bounds the coroutines, and the helpers' goroutines, kept for reuse:
// enough for the tasks of a busy run, few enough that a burst does not pin its
// memory.
const maxIdle = 1024

func compile(L *lua.LState, src Source) (*lua.LFunction, error) {
	chunk, err := parse.Parse(bytes.NewReader(src.Content), src.Name)
	if err != nil {
		return nil, syntaxError(src, err)
	}
	if err := fixChunk(src.Name, chunk); err != nil {
		return nil, err
	}
	proto, err := lua.Compile(chunk, src.Name)
	if err != nil {
		var ce *lua.CompileError
		if errors.As(err, &ce) {
			return nil, &Error{File: src.Name, Line: ce.Line, Msg: ce.Message}
		}
		return nil, &Error{File: src.Name, Msg: firstLine(err.Error())}
	}
	return L.NewFunctionFromProto(proto), nil
}

// openLibs opens what a task file needs and nothing that bypasses grifork: no io,
// no os.execute/os.exit, no loading of other files.
func openLibs(L *lua.LState) {
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
		{lua.OsLibName, lua.OpenOs},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	L.SetGlobal(tailCallName, L.NewFunction(func(L *lua.LState) int { return L.GetTop() }))
	limitStrings(L)
	for _, name := range []string{"dofile", "loadfile", "require", "module", "_printregs"} {
		L.SetGlobal(name, lua.LNil)
	}
	full := L.GetGlobal("os").(*lua.LTable)
	limited := L.NewTable()
	for _, name := range []string{"getenv", "date", "time", "clock"} {
		limited.RawSetString(name, full.RawGetString(name))
	}
	L.SetGlobal("os", limited)
}

// resultChans keeps tasks' result channels for the next tasks: a dry run
// runs 100,000 tasks one after the other.
var resultChans = sync.Pool{New: func() any { return make(chan error, 1) }}

// task is one invocation of a block. Its fields other than ctx, edge and result
// belong to the VM goroutine.
type task struct {
	ctx    context.Context // cancelled when Run returns or the script closes
	edge   core.Edge
	result chan error // buffered: the VM goroutine never waits for Run
	prefix string     // print() prefix

	co       *lua.LState
	op       func(context.Context) (string, error) // work a helper asked for, until the yield
	opPos    luaPos                                // where the helper was called
	opInline bool                                  // op waits on nothing: run it on the VM goroutine
	failures []failure                             // helper errors, to unwrap the task's error
	finished bool
}

type failure struct {
	msg string
	err error
}

func (t *task) errorf(msg string, err error) *TaskError {
	e := &TaskError{Block: t.edge.Block, Msg: msg, Err: err}
	if t.edge.Src != nil {
		e.Src = t.edge.Src.Name()
	}
	if t.edge.Dst != nil {
		e.Dst = t.edge.Dst.Name()
	}
	return e
}

// Run runs e.Block for e; an undefined block is a no-op. It returns when the block
// has ended or ctx is done; the commands it started get ctx's cancellation.
func (s *Script) Run(ctx context.Context, e core.Edge) error {
	if e.Block == core.BlockFinish {
		return fmt.Errorf("dsl: the finish block runs through Finish, with the report")
	}
	if !s.Defined(e.Block) {
		return nil
	}
	return s.runTask(ctx, e, func(_ *lua.LState, vals []lua.LValue) []lua.LValue {
		if e.Src != nil {
			vals = append(vals, lua.LString(e.Src.Name()))
		}
		if e.Dst != nil {
			vals = append(vals, lua.LString(e.Dst.Name()))
		}
		return vals
	})
}

// Finish runs the finish block with r (see reportView for what Lua sees).
func (s *Script) Finish(ctx context.Context, r *core.Report) error {
	if !s.Defined(core.BlockFinish) {
		return nil
	}
	// Keep the node the caller runs finish on (ctx's edge): commands the block
	// runs are recorded and prefixed under it, like those of prepare.
	e, _ := core.EdgeFrom(ctx)
	return s.runTask(ctx, core.Edge{Block: core.BlockFinish, Src: e.Src}, func(L *lua.LState, vals []lua.LValue) []lua.LValue {
		return append(vals, reportValue(L, r))
	})
}

// runTask runs e's block; args appends the block's arguments to the values it
// is given.
func (s *Script) runTask(ctx context.Context, e core.Edge, args func(L *lua.LState, vals []lua.LValue) []lua.LValue) error {
	if cur, ok := core.EdgeFrom(ctx); !ok || cur != e {
		ctx = core.WithEdge(ctx, e) // the schedulers' ctx carries e already
	}
	// Cancelled when Run returns, which it also does when the script closes:
	// every wait below watches s.life.
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := &task{ctx: tctx, edge: e, result: resultChans.Get().(chan error)}
	// finish prints the run's outcome: plain lines, as at the top level.
	if e.Block != core.BlockFinish {
		t.prefix = e.Label()
	}
	start := time.Now()
	log := s.logger()
	debug := log.Enabled(ctx, slog.LevelDebug) // the records' attributes cost more than a small task
	if debug {
		log.Debug("task start", "block", e.Block, "src", nodeName(e.Src), "dst", nodeName(e.Dst))
	}
	var err error
	if !s.startHere(t, args) {
		err = s.post(ctx, func() { s.start(t, args) })
	}
	if err != nil {
		err = t.errorf(err.Error(), err)
	} else {
		select {
		case err = <-t.result:
			resultChans.Put(t.result) // empty, and the task finished: nothing sends to it again
		case <-ctx.Done():
			cause := context.Cause(ctx)
			err = t.errorf(cause.Error(), cause)
		case <-s.life.Done():
			err = t.errorf(errClosed.Error(), errClosed)
		}
	}
	if debug {
		log.Debug("task end", "block", e.Block, "src", nodeName(e.Src), "dst", nodeName(e.Dst),
			"duration", time.Since(start), "err", err)
	}
	return err
}

func nodeName(n *core.Node) string {
	if n == nil {
		return ""
	}
	return n.Name()
}

// startHere starts t on the caller's goroutine, when what tasks run waits on
// nothing (the bound Exec is Immediate: a dry run) and the VM is free: the
// task then runs here until it ends or waits (sleep). A start posted to the VM goroutine is two
// hops between goroutines per task, and with a second processor idle each hop
// woke a thread that found nothing to do: a quarter of the CPU of a
// grifork-mode dry run of 100,000 hosts, which runs one task at a time.
func (s *Script) startHere(t *task, args func(*lua.LState, []lua.LValue) []lua.LValue) bool {
	if _, ok := s.bound.Load().exec.(core.Immediate); !ok || !s.vm.TryLock() {
		return false
	}
	defer s.vm.Unlock()
	if s.life.Err() != nil {
		return false // closed: post says so
	}
	s.start(t, args)
	return true
}

// start runs holding the VM: it gives the task a coroutine (a reused one
// when there is one: making one costs more than a small task) and runs it up to
// its first wait.
func (s *Script) start(t *task, args func(*lua.LState, []lua.LValue) []lua.LValue) {
	defer s.recoverTask(t)
	var fn *lua.LFunction // nil resumes an idle coroutine where it waits for a block
	if n := len(s.idle); n > 0 {
		t.co, s.idle = s.idle[n-1], s.idle[:n-1]
	} else {
		t.co, _ = s.L.NewThread()
		fn = s.runner
	}
	// A task that loops in Lua without waiting still stops when its ctx ends.
	t.co.SetContext(t.ctx)
	// What runner takes: the block, the number of its arguments, the arguments.
	vals := args(s.L, make([]lua.LValue, 2, 4))
	vals[0], vals[1] = s.blocks[t.edge.Block], lua.LNumber(len(vals)-2)
	s.resume(t, fn, vals...)
}

// resume runs t's coroutine until it waits, returns or fails. A helper whose
// work waits on nothing (a dry run's) is done here and the coroutine resumed
// at once: the hop to a worker and back was a fifth of a dry run's Lua side.
func (s *Script) resume(t *task, fn *lua.LFunction, args ...lua.LValue) {
	for !t.finished {
		s.current = t
		st, err, vals := s.L.Resume(t.co, fn, args...)
		s.current = nil
		switch st {
		case lua.ResumeOK: // runner never returns; a dead coroutine is not reused
			s.finish(t, nil)
		case lua.ResumeError:
			s.finish(t, s.taskError(t, err))
		case lua.ResumeYield:
			op, pos, inline := t.op, t.opPos, t.opInline
			t.op, t.opPos, t.opInline = nil, luaPos{}, false
			if op == nil && len(vals) > 0 && vals[0] == s.blockDone {
				co := t.co
				s.finish(t, nil)
				if len(s.idle) < maxIdle {
					co.RemoveContext() // the task's ctx ends with it
					s.idle = append(s.idle, co)
				}
				return
			}
			if op == nil || len(vals) == 0 || vals[0] != s.token {
				s.finish(t, t.errorf("coroutine.yield called outside of a coroutine", nil))
				return
			}
			if !inline {
				s.workers.Go(func() { s.work(t, op, pos) })
				return
			}
			out, err := runOp(t.ctx, op)
			fn, args = nil, s.result(t, out, pos, err)
			continue
		}
		return
	}
}

// work runs a helper's operation off the VM goroutine and posts the result back.
func (s *Script) work(t *task, op func(context.Context) (string, error), pos luaPos) {
	out, err := runOp(t.ctx, op)
	select {
	case s.resumes <- func() { s.complete(t, out, pos, err) }:
	case <-s.life.Done():
	}
}

// runOp runs op; a panic in it (a bug behind a helper) becomes the helper's
// error: on this goroutine of its own, nothing else would stop it from ending
// the process with a goroutine dump.
func runOp(ctx context.Context, op func(context.Context) (string, error)) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return op(ctx)
}

// complete resumes t with a helper's result: (true, output) or (false, message),
// which the prelude turns into a return value or a Lua error.
func (s *Script) complete(t *task, out string, pos luaPos, err error) {
	defer s.recoverTask(t)
	s.resume(t, nil, s.result(t, out, pos, err)...)
}

// result is what resumes t after a helper's work: (true, output) or (false,
// message), which the prelude turns into a return value or a Lua error.
func (s *Script) result(t *task, out string, pos luaPos, err error) []lua.LValue {
	if err != nil {
		msg := pos.prefix() + err.Error()
		t.failures = append(t.failures, failure{msg: firstLine(msg), err: err})
		return []lua.LValue{lua.LFalse, lua.LString(msg)}
	}
	return []lua.LValue{lua.LTrue, lua.LString(out)}
}

func (s *Script) finish(t *task, err error) {
	if t.finished {
		return
	}
	t.finished = true
	t.co = nil
	t.result <- err
}

// recoverTask keeps a bug on the Go side from taking the process down: the task
// fails with it instead.
func (s *Script) recoverTask(t *task) {
	if r := recover(); r != nil {
		s.current = nil
		s.finish(t, t.errorf(fmt.Sprintf("internal error: %v", r), nil))
	}
}

// taskError makes the error of a failed block: the Lua message (FILE:LINE: ...)
// and, when it came from a helper, the Go error behind it.
func (s *Script) taskError(t *task, err error) error {
	msg := err.Error()
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		msg = errorValue(ae.Object)
	}
	msg = firstLine(msg)
	var cause error
	for i := len(t.failures) - 1; i >= 0; i-- {
		if strings.Contains(msg, t.failures[i].msg) {
			cause = t.failures[i].err
			break
		}
	}
	if cause == nil && t.ctx.Err() != nil {
		cause = context.Cause(t.ctx)
	}
	return t.errorf(msg, cause)
}
