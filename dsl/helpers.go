package dsl

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grifork/grifork/core"
	lua "github.com/yuin/gopher-lua"
)

// op is the work of a helper: it runs on a goroutine of its own, with the task's
// ctx (which carries the core.Edge), and its output is what Lua gets back. Its
// error is prefixed with the helper's name.
type op func(ctx context.Context) (string, error)

// helper makes a task helper: it checks its arguments on the VM goroutine, then
// hands the task the work to do while it waits. viaExec says the work only
// calls the bound Exec.
func (s *Script) helper(name string, viaExec bool, start func(L *lua.LState, t *task) (op, error)) prim {
	return func(L *lua.LState) (bool, error) {
		t := s.current
		if t == nil {
			return false, fmt.Errorf("%s is a helper: use it inside a task block", name)
		}
		if t.ctx.Err() != nil {
			return false, fmt.Errorf("%s: %w", name, context.Cause(t.ctx))
		}
		pos, underGo := helperFrames(L, s.runner)
		if underGo {
			return false, fmt.Errorf("%s cannot wait inside a function that Go code calls (a string.gsub or table.sort callback, a metamethod): call it from the task's own code", name)
		}
		work, err := start(L, t)
		if err != nil {
			return false, fmt.Errorf("%s: %w", name, err)
		}
		t.op = func(ctx context.Context) (string, error) {
			out, err := work(ctx)
			if err != nil {
				return out, fmt.Errorf("%s: %w", name, err)
			}
			return out, nil
		}
		t.opPos = pos
		if viaExec { // an op that only calls an Immediate Exec runs in line (see resume)
			_, t.opInline = s.bound.Load().exec.(core.Immediate)
		}
		return true, nil
	}
}

// helperFrames walks the coroutine's stack once for a helper call: the position
// of its caller (as caller finds it) and whether a Go function (other than the
// primitive itself) is on the stack, since a yield cannot cross it. One walk,
// not one for each: every GetStack allocates and starts again from the top, and
// the walks were a twentieth of a dry run. It ends at runner, the body of a task
// coroutine, below which there is nothing.
func helperFrames(L *lua.LState, runner *lua.LFunction) (pos luaPos, underGo bool) {
	for level := 1; ; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return pos, underGo
		}
		fn, err := L.GetInfo("fSl", dbg, lua.LNil)
		if err != nil {
			return pos, underGo
		}
		f, ok := fn.(*lua.LFunction)
		switch {
		case ok && f.IsG:
			underGo = true
		case pos.line == 0 && dbg.CurrentLine > 0 && dbg.Source != preludeName:
			pos = luaPos{file: dbg.Source, line: dbg.CurrentLine}
		}
		if ok && f == runner {
			return pos, underGo
		}
	}
}

// luaPos is where Lua code called a helper; line 0 when unknown.
type luaPos struct {
	file string
	line int
}

// prefix is "FILE:LINE: " for the front of an error message, "" when unknown:
// formatted only for an error, as most helper calls succeed.
func (p luaPos) prefix() string {
	if p.line == 0 {
		return ""
	}
	return p.file + ":" + strconv.Itoa(p.line) + ": "
}

func (s *Script) exec() (core.Exec, error) {
	ex := s.bound.Load().exec
	if ex == nil {
		return nil, fmt.Errorf("no executor: this run cannot run commands")
	}
	return ex, nil
}

// sh(cmd, args): cmd with args as its argv, no shell; sh(cmdline): /bin/sh -c cmdline.
func (s *Script) sh(L *lua.LState, t *task) (op, error) {
	cmd, ok := L.Get(1).(lua.LString)
	if !ok {
		return nil, fmt.Errorf("the command must be a string, got %s: sh(cmd, { args })", describe(L.Get(1)))
	}
	if L.GetTop() > 2 {
		return nil, fmt.Errorf(`give the arguments as a table: sh(%q, { "arg", ... })`, string(cmd))
	}
	// An empty args table means no table, as in the Ruby tool (sh "cmd >> f", []):
	// the command line goes to the shell.
	argv := []string{"/bin/sh", "-c", string(cmd)}
	if L.GetTop() == 2 && L.Get(2) != lua.LNil {
		args, err := argList(L.Get(2), "sh")
		if err != nil {
			return nil, err
		}
		if len(args) > 0 {
			argv = append([]string{string(cmd)}, args...)
		}
	}
	ex, err := s.exec()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (string, error) { return ex.Local(ctx, argv) }, nil
}

// ssh(host, cmd, args): cmd as written, then the args each shell-quoted, on host.
func (s *Script) ssh(L *lua.LState, t *task) (op, error) {
	name, ok := L.Get(1).(lua.LString)
	if !ok {
		return nil, fmt.Errorf("the host must be a string (such as dst), got %s: ssh(host, cmd, { args })", describe(L.Get(1)))
	}
	cmd, ok := L.Get(2).(lua.LString)
	if !ok {
		return nil, fmt.Errorf("the command must be a string, got %s: ssh(host, cmd, { args })", describe(L.Get(2)))
	}
	if L.GetTop() > 3 {
		return nil, fmt.Errorf(`give the arguments as a table: ssh(host, %q, { "arg", ... })`, string(cmd))
	}
	cmdline := string(cmd)
	if L.GetTop() == 3 && L.Get(3) != lua.LNil {
		args, err := argList(L.Get(3), "ssh")
		if err != nil {
			return nil, err
		}
		if len(args) > 0 {
			cmdline += " " + core.ShellJoin(args)
		}
	}
	host, err := t.host(string(name))
	if err != nil {
		return nil, err
	}
	ex, err := s.exec()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (string, error) { return ex.Remote(ctx, host, cmdline) }, nil
}

// host resolves a host name given to a helper: a node of the task's edge by its
// name, otherwise the name parsed as a host entry.
func (t *task) host(name string) (core.Host, error) {
	for _, n := range []*core.Node{t.edge.Dst, t.edge.Src} {
		if n != nil && n.Name() == name {
			return n.Host, nil
		}
	}
	return core.ParseHost(name)
}

// rsync(from, to): on this machine, rsync <opts> from dst:to (to defaults to from).
func (s *Script) rsync(L *lua.LState, t *task) (op, error) {
	argv, ex, err := s.rsyncArgv(L, t, "rsync")
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (string, error) { return ex.Local(ctx, argv) }, nil
}

// rsync_remote(from, to): the same rsync, run on src. When src is this machine
// (locally, or a grifork-mode remote block on a node) it is rsync(from, to): a
// Griforkfile switched between modes keeps working.
func (s *Script) rsyncRemote(L *lua.LState, t *task) (op, error) {
	argv, ex, err := s.rsyncArgv(L, t, "rsync_remote")
	if err != nil {
		return nil, err
	}
	src := t.edge.Src
	if src == nil || src.IsRoot() {
		return func(ctx context.Context) (string, error) { return ex.Local(ctx, argv) }, nil
	}
	host, cmdline := src.Host, core.ShellJoin(argv)
	return func(ctx context.Context) (string, error) { return ex.Remote(ctx, host, cmdline) }, nil
}

// rsyncArgv checks the arguments of an rsync helper and returns its command
// line and the executor to run it with.
func (s *Script) rsyncArgv(L *lua.LState, t *task, name string) ([]string, core.Exec, error) {
	from, ok := L.Get(1).(lua.LString)
	if !ok || from == "" {
		return nil, nil, fmt.Errorf("the source path must be a string, got %s: %s(from, to)", describe(L.Get(1)), name)
	}
	to := from
	if v := L.Get(2); v != lua.LNil {
		if to, ok = v.(lua.LString); !ok || to == "" {
			return nil, nil, fmt.Errorf("the destination path must be a string, got %s: %s(from, to)", describe(v), name)
		}
	}
	if L.GetTop() > 2 {
		return nil, nil, fmt.Errorf("it takes two paths: %s(from, to)", name)
	}
	dst := t.edge.Dst
	if dst == nil {
		return nil, nil, fmt.Errorf("the %s block has no destination host: use %s in locally or remote", t.edge.Block, name)
	}
	ex, err := s.exec()
	if err != nil {
		return nil, nil, err
	}
	c := s.Config.Rsync
	rsh := c.Rsh
	if rsh == "" {
		rsh = ex.Rsh(dst.Host)
		// An rsync run here (rsync, or rsync_remote from this machine) may
		// reach dst through the Exec's own connection.
		if l, ok := ex.(core.LocalRsher); ok && (name == "rsync" || t.edge.Src == nil || t.edge.Src.IsRoot()) {
			rsh = l.LocalRsh(dst.Host)
		}
	}
	return buildRsyncArgv(c, rsh, localPath(string(from)), dst.Host.RsyncTarget()+":"+remotePath(string(to))), ex, nil
}

// localPath keeps a source path a path on the machine that runs rsync: "./" keeps
// a relative path with a colon before any slash from being read as host:path or
// rsync://host (the "--" of buildRsyncArgv takes care of a leading "-").
func localPath(p string) string {
	if strings.Contains(strings.SplitN(p, "/", 2)[0], ":") {
		return "./" + p
	}
	return p
}

// remotePath keeps the path part of host:path data on the receiving side. rsync
// before 3.2.4 hands a leading "-" to the remote rsync as an option (3.2.4 and
// later add this "./" themselves), and a leading ":" would make host::path a
// daemon module. The remote side resolves a relative path from the login
// directory, with or without "./".
func remotePath(p string) string {
	if strings.HasPrefix(p, "-") || strings.HasPrefix(p, ":") {
		return "./" + p
	}
	return p
}

// buildRsyncArgv is the rsync command line of the rsync helpers: rsync, the options
// of c with --rsh=rsh (unless rsh is empty; before raw options, so that theirs
// wins), "--", from, to.
// The "--" makes paths that start with "-" paths, never options such as -e.
func buildRsyncArgv(c core.RsyncConfig, rsh, from, to string) []string {
	// Sized up front: growing it was three allocations per edge.
	argv := append(make([]string, 0, 9+len(c.Raw)+len(c.Excludes)), "rsync")
	if c.Raw != nil {
		// rsync takes the last remote shell it is given, so a -e or --rsh of the
		// raw options wins in whatever form it is written (-avze CMD, -eCMD,
		// --rsh CMD, ...), with no parsing of rsync's options here.
		if rsh != "" {
			argv = append(argv, "--rsh="+rsh)
		}
		return append(append(argv, c.Raw...), "--", from, to)
	}
	argv = append(argv, "-az")
	if c.Verbose {
		argv = append(argv, "-v")
	}
	if c.Deletes() {
		argv = append(argv, "--delete")
	}
	if c.Bwlimit > 0 {
		argv = append(argv, "--bwlimit="+strconv.Itoa(c.Bwlimit))
	}
	for _, ex := range c.Excludes {
		argv = append(argv, "--exclude="+ex)
	}
	if c.DryRun {
		argv = append(argv, "--dry-run")
	}
	if rsh != "" {
		argv = append(argv, "--rsh="+rsh)
	}
	return append(argv, "--", from, to)
}

// sleep(seconds): waits without holding up other tasks.
func (s *Script) sleep(L *lua.LState, t *task) (op, error) {
	n, ok := L.Get(1).(lua.LNumber)
	if !ok || n < 0 || math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return nil, fmt.Errorf("it takes a number of seconds >= 0, got %s", describe(L.Get(1)))
	}
	// A float beyond the int64 range converts to a negative Duration, which would
	// not wait at all: wait "forever" (until cancelled) instead.
	d := time.Duration(math.MaxInt64)
	if ns := float64(n) * float64(time.Second); ns < float64(math.MaxInt64) {
		d = time.Duration(ns)
	}
	return func(ctx context.Context) (string, error) {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			return "", nil
		case <-ctx.Done():
			return "", context.Cause(ctx)
		}
	}, nil
}

func argList(v lua.LValue, name string) ([]string, error) {
	t, ok := v.(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("the arguments must be a table of strings, got %s", describe(v))
	}
	if err := checkArray(t, name+": the arguments"); err != nil {
		return nil, err
	}
	args := make([]string, 0, t.Len())
	for i := 1; i <= t.Len(); i++ {
		switch a := t.RawGetInt(i).(type) {
		case lua.LString:
			args = append(args, string(a))
		case lua.LNumber:
			args = append(args, a.String())
		default:
			return nil, fmt.Errorf("argument %d must be a string, got %s", i, describe(a))
		}
	}
	return args, nil
}

// print(...) writes its arguments, tab-separated, as lines of the printer,
// prefixed with the task's node (dst for locally/remote, src otherwise).
func (s *Script) print(L *lua.LState) (bool, error) {
	parts := make([]string, L.GetTop())
	for i := range parts {
		parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
	}
	s.lines(strings.Join(parts, "\t"))
	return false, nil
}

// p(...) prints each argument on its own line, in Lua syntax (tables expanded).
func (s *Script) inspect(L *lua.LState) (bool, error) {
	for i := 1; i <= L.GetTop(); i++ {
		s.lines(inspect(L.Get(i), 0, map[*lua.LTable]bool{}))
	}
	return false, nil
}

func (s *Script) lines(text string) {
	prefix := ""
	if s.current != nil {
		prefix = s.current.prefix
	}
	for _, line := range strings.Split(text, "\n") {
		s.printer.Line(prefix, line)
	}
}

func inspect(v lua.LValue, depth int, seen map[*lua.LTable]bool) string {
	switch v := v.(type) {
	case lua.LString:
		return strconv.Quote(string(v))
	case *lua.LTable:
		if seen[v] || depth > 8 {
			return "{...}"
		}
		seen[v] = true
		defer delete(seen, v)
		var parts []string
		n := 0 // the list part: 1..n without holes
		for v.RawGetInt(n+1) != lua.LNil {
			n++
			parts = append(parts, inspect(v.RawGetInt(n), depth+1, seen))
		}
		type kv struct{ k, v string }
		var named []kv
		v.ForEach(func(k, val lua.LValue) {
			if i, ok := toInt(k); ok && i >= 1 && i <= n {
				return
			}
			key := "[" + inspect(k, depth+1, seen) + "]"
			if ks, ok := k.(lua.LString); ok && isIdent(string(ks)) {
				key = string(ks)
			}
			named = append(named, kv{key, inspect(val, depth+1, seen)})
		})
		slices.SortFunc(named, func(a, b kv) int { return strings.Compare(a.k, b.k) })
		for _, e := range named {
			parts = append(parts, e.k+" = "+e.v)
		}
		if len(parts) == 0 {
			return "{}"
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	return v.String()
}

func isIdent(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
