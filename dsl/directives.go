package dsl

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grifork/grifork/core"
	lua "github.com/yuin/gopher-lua"
)

// pass is what the top level of one file set. Each file may set each directive
// once; the override file's pass replaces what the main file's set.
type pass struct {
	src         Source
	lines       map[string]int // directive or block -> line where it was set
	conf        core.Config
	hosts       []string // the hosts directive's entries, expanded after the merge
	inventories []string // the inventory directive's files
	blocks      map[core.Block]*lua.LFunction
}

func newPass(src Source) *pass {
	return &pass{src: src, lines: map[string]int{}, blocks: map[core.Block]*lua.LFunction{}}
}

// merge applies the passes in order, each replacing what it set, then fills in
// the defaults (core.Config.SetDefaults). A file that sets grifork { } and no
// mode selects grifork mode, as the Ruby tool's grifork block does.
func merge(passes []*pass) (core.Config, map[core.Block]*lua.LFunction) {
	var c core.Config
	blocks := map[core.Block]*lua.LFunction{}
	for _, p := range passes {
		set := func(name string) bool { _, ok := p.lines[name]; return ok }
		if set("grifork") {
			c.Grifork = p.conf.Grifork
			if !set("mode") {
				c.Mode = core.Grifork
			}
		}
		if set("mode") {
			if set("grifork") {
				c.Mode = p.conf.Mode
			} else {
				c.SwitchMode(p.conf.Mode)
			}
		}
		if set("branches") {
			c.Branches = p.conf.Branches
		}
		if set("log") {
			c.Log = p.conf.Log
		}
		if set("ssh") {
			c.SSH = p.conf.SSH
		}
		if set("rsync") {
			c.Rsync = p.conf.Rsync
		}
		if set("broadcast") {
			c.Broadcast = p.conf.Broadcast
		}
		if set("max_failures") {
			c.MaxFailures = p.conf.MaxFailures
		}
		for b, fn := range p.blocks {
			blocks[b] = fn
		}
	}
	c.SetDefaults()
	return c, blocks
}

// validate checks the merged settings (core.Config.Validate), citing the
// line of the last file that set the directive at fault.
func validate(passes []*pass, c *core.Config) error {
	err := c.Validate()
	var ce *core.ConfigError
	if err == nil || !errors.As(err, &ce) {
		return err
	}
	for _, p := range slices.Backward(passes) {
		if line, ok := p.lines[ce.Directive]; ok {
			return &Error{File: p.src.Name, Line: line, Msg: ce.Msg}
		}
	}
	return err
}

// checkHosts refuses an empty host list that survives the merge, naming the
// last file that set it: a base file's `hosts {}` that an override fills is fine,
// as in the Ruby tool.
func checkHosts(passes []*pass, c core.Config) error {
	if len(c.Hosts) > 0 {
		return nil
	}
	for _, p := range slices.Backward(passes) {
		if line, ok := p.lines["hosts"]; ok {
			return &Error{File: p.src.Name, Line: line, Msg: "hosts: the list is empty"}
		}
	}
	return nil // no hosts directive: prepare and finish run on this machine
}

// prim is a DSL function: it returns whether the task must wait for work it
// started, or an error that the prelude raises at the caller's line.
type prim func(L *lua.LState) (wait bool, err error)

func (s *Script) primitives() *lua.LTable {
	prims := map[string]prim{
		"mode":         s.directive("mode", s.setMode),
		"branches":     s.directive("branches", s.setBranches),
		"log":          s.directive("log", s.setLog),
		"hosts":        s.directive("hosts", s.setHosts),
		"inventory":    s.directive("inventory", s.setInventory),
		"grifork":      s.directive("grifork", s.setGrifork),
		"parallel":     s.directive("parallel", s.setParallel),
		"broadcast":    s.directive("broadcast", s.setBroadcast),
		"max_failures": s.directive("max_failures", s.setMaxFailures),
		"ssh":          s.dual("ssh", "ssh(host, cmd, args)", s.directive("ssh", s.setSSH), s.helper("ssh", true, s.ssh)),
		"rsync":        s.dual("rsync", "rsync(from, to)", s.directive("rsync", s.setRsync), s.helper("rsync", true, s.rsync)),

		"sh":           s.helper("sh", true, s.sh),
		"rsync_remote": s.helper("rsync_remote", true, s.rsyncRemote),
		"sleep":        s.helper("sleep", false, s.sleep),
		"print":        s.print,
		"p":            s.inspect,
	}
	for _, b := range []core.Block{core.BlockPrepare, core.BlockLocally, core.BlockRemote,
		core.BlockPrepareRemote, core.BlockFinishRemote, core.BlockFinish} {
		prims[string(b)] = s.block(b)
	}
	t := s.L.NewTable()
	for name, f := range prims {
		t.RawSetString(name, s.L.NewFunction(func(L *lua.LState) int {
			wait, err := f(L)
			if err != nil {
				L.Push(lua.LFalse)
				L.Push(lua.LString(callerPos(L) + err.Error()))
				return 2
			}
			L.Push(lua.LBool(wait))
			return 1
		}))
	}
	return t
}

// caller is the file and line of the Lua code that called a DSL function: the
// first frame above the primitive that is neither Go nor the prelude (a tail
// call can leave the prelude's wrapper twice on the stack). ok is false when
// there is none, as when pcall calls the wrapper directly.
func caller(L *lua.LState) (file string, line int, ok bool) {
	for level := 1; ; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return "", 0, false
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			return "", 0, false
		}
		if dbg.CurrentLine > 0 && dbg.Source != preludeName {
			return dbg.Source, dbg.CurrentLine, true
		}
	}
}

// callerLine is the line of the caller of a DSL function, 0 when unknown.
func callerLine(L *lua.LState) int {
	_, line, _ := caller(L)
	return line
}

// callerPos is "FILE:LINE: " of the caller of a DSL function, for the front of
// its error messages; "" when unknown.
func callerPos(L *lua.LState) string {
	file, line, ok := caller(L)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s:%d: ", file, line)
}

// directive makes a top-level directive that may be set once per file.
func (s *Script) directive(name string, set func(L *lua.LState, p *pass) error) prim {
	return func(L *lua.LState) (bool, error) {
		if s.current != nil || s.pass == nil {
			return false, fmt.Errorf("%s is a directive: use it at the top level", name)
		}
		p := s.pass
		if first, ok := p.lines[name]; ok {
			return false, fmt.Errorf("%q is already set (first set at line %d)", name, first)
		}
		if err := set(L, p); err != nil {
			return false, err
		}
		p.lines[name] = callerLine(L)
		return false, nil
	}
}

// dual makes ssh and rsync: a directive (one table) at the top level, a helper
// inside a task block.
func (s *Script) dual(name, call string, directive, helper prim) prim {
	return func(L *lua.LState) (bool, error) {
		isTable := L.GetTop() == 1 && L.Get(1).Type() == lua.LTTable
		atTop := s.current == nil && s.pass != nil
		if isTable != atTop {
			return false, fmt.Errorf("%s is a directive at the top level (one table argument) and a helper inside a task block: %s", name, call)
		}
		if atTop {
			return directive(L)
		}
		return helper(L)
	}
}

func (s *Script) block(b core.Block) prim {
	name := string(b)
	return func(L *lua.LState) (bool, error) {
		if s.current != nil || s.pass == nil {
			return false, fmt.Errorf("%s is a directive: use it at the top level", name)
		}
		p := s.pass
		if first, ok := p.lines[name]; ok {
			return false, fmt.Errorf("%q is already defined (first defined at line %d)", name, first)
		}
		fn, ok := L.Get(1).(*lua.LFunction)
		if L.GetTop() != 1 || !ok {
			return false, fmt.Errorf("%s takes one function: %s(function(%s) ... end), got %s", name, name, blockParams(b), describeArgs(L))
		}
		p.blocks[b] = fn
		p.lines[name] = callerLine(L)
		return false, nil
	}
}

func blockParams(b core.Block) string {
	switch b {
	case core.BlockLocally, core.BlockRemote:
		return "src, dst"
	case core.BlockFinish:
		return "report"
	}
	return ""
}

func (s *Script) setMode(L *lua.LState, p *pass) error {
	v, err := oneArg(L, "mode", `mode "standalone"`)
	if err != nil {
		return err
	}
	m, ok := v.(lua.LString)
	if !ok {
		return fmt.Errorf(`mode must be "standalone" or "grifork", got %s`, describe(v))
	}
	p.conf.Mode = core.Mode(m)
	return (&core.Config{Mode: p.conf.Mode}).Validate()
}

func (s *Script) setBranches(L *lua.LState, p *pass) error {
	v, err := oneArg(L, "branches", "branches(4)")
	if err != nil {
		return err
	}
	n, ok := toInt(v)
	if !ok || !core.BranchesRange.Contains(n) {
		return fmt.Errorf("branches must be an integer >= 1, got %s", describe(v))
	}
	p.conf.Branches = n
	return nil
}

func (s *Script) setLog(L *lua.LState, p *pass) error {
	f, err := tableArg(L, "log", "file", "level")
	if err != nil {
		return err
	}
	if p.conf.Log.File, err = f.str("file"); err != nil {
		return err
	}
	if p.conf.Log.Level, err = f.oneOf("level", core.LogLevels...); err != nil {
		return err
	}
	return nil
}

func (s *Script) setHosts(L *lua.LState, p *pass) error {
	if L.GetTop() != 1 {
		return fmt.Errorf(`hosts takes one table: hosts { "web1", "web2" }, got %s`, describeArgs(L))
	}
	var entries []string
	switch v := L.Get(1).(type) {
	case lua.LString:
		entries = []string{string(v)}
	case *lua.LTable:
		if err := checkArray(v, "hosts"); err != nil {
			return err
		}
		for i := 1; i <= v.Len(); i++ {
			e, ok := v.RawGetInt(i).(lua.LString)
			if !ok {
				return fmt.Errorf("hosts: entry %d must be a string, got %s", i, describe(v.RawGetInt(i)))
			}
			entries = append(entries, string(e))
		}
	default:
		return fmt.Errorf(`hosts takes one table: hosts { "web1", "web2" }, got %s`, describe(v))
	}
	// Expanded once every directive is read: an inventory set after the
	// hosts may hold their groups (see Script.expand).
	p.hosts = entries
	return nil
}

func (s *Script) setInventory(L *lua.LState, p *pass) error {
	const usage = `inventory takes one table of files: inventory { "hosts.ini", "prod.yml" }`
	if L.GetTop() != 1 {
		return fmt.Errorf("%s, got %s", usage, describeArgs(L))
	}
	switch v := L.Get(1).(type) {
	case lua.LString:
		p.inventories = []string{string(v)}
	case *lua.LTable:
		if err := checkArray(v, "inventory"); err != nil {
			return err
		}
		for i := 1; i <= v.Len(); i++ {
			f, ok := v.RawGetInt(i).(lua.LString)
			if !ok || f == "" {
				return fmt.Errorf("inventory: entry %d must be a file name, got %s", i, describe(v.RawGetInt(i)))
			}
			p.inventories = append(p.inventories, string(f))
		}
	default:
		return fmt.Errorf("%s, got %s", usage, describe(v))
	}
	return nil
}

func (s *Script) setSSH(L *lua.LState, p *pass) error {
	f, err := tableArg(L, "ssh", "user", "keys", "passphrase", "password", "port",
		"known_hosts", "host_key_check", "timeout", "command_timeout", "retries", "max_connections")
	if err != nil {
		return err
	}
	c := &p.conf.SSH
	if c.User, err = f.str("user"); err != nil {
		return err
	}
	if c.Keys, err = f.strs("keys"); err != nil {
		return err
	}
	if c.Passphrase, err = f.secret("passphrase"); err != nil {
		return err
	}
	if c.Password, err = f.secret("password"); err != nil {
		return err
	}
	if c.Port, err = f.intIn("port", core.PortRange); err != nil {
		return err
	}
	if c.KnownHosts, err = f.str("known_hosts"); err != nil {
		return err
	}
	if c.HostKeyCheck, err = f.str("host_key_check"); err != nil {
		return err
	}
	c.HostKeyCheckSet = c.HostKeyCheck != ""
	if c.Timeout, err = f.seconds("timeout", false); err != nil {
		return err
	}
	if c.CommandTimeout, err = f.seconds("command_timeout", true); err != nil {
		return err
	}
	if _, ok := f.vals["retries"]; ok {
		n, err := f.intIn("retries", core.RetriesRange)
		if err != nil {
			return err
		}
		c.Retries = &n
	}
	if _, ok := f.vals["max_connections"]; ok {
		if c.MaxConnections, err = f.intIn("max_connections", core.MaxConnectionsRange); err != nil {
			return err
		}
	}
	return c.Validate()
}

func (s *Script) setRsync(L *lua.LState, p *pass) error {
	t := L.Get(1).(*lua.LTable) // dual checked the argument
	if t.Len() > 0 {
		// The array form: raw rsync options, passed as given.
		if err := checkArray(t, "rsync"); err != nil {
			return fmt.Errorf(`rsync: use either an array of options { "-az", "--delete" } or named settings { delete = true }, not both`)
		}
		raw := []string{}
		for i := 1; i <= t.Len(); i++ {
			o, ok := t.RawGetInt(i).(lua.LString)
			if !ok {
				return fmt.Errorf("rsync: option %d must be a string, got %s", i, describe(t.RawGetInt(i)))
			}
			raw = append(raw, string(o))
		}
		p.conf.Rsync = core.RsyncConfig{Raw: raw}
		return nil
	}
	f, err := tableArg(L, "rsync", "delete", "bwlimit", "verbose", "excludes", "rsh", "dry_run")
	if err != nil {
		return err
	}
	c := &p.conf.Rsync
	if v, ok := f.vals["delete"]; ok {
		b, isBool := v.(lua.LBool)
		if !isBool {
			return fmt.Errorf("rsync: delete must be true or false, got %s", describe(v))
		}
		d := bool(b)
		c.Delete = &d
	}
	if c.Bwlimit, err = f.intIn("bwlimit", core.BwlimitRange); err != nil {
		return err
	}
	if c.Verbose, err = f.boolean("verbose"); err != nil {
		return err
	}
	if c.Excludes, err = f.strs("excludes"); err != nil {
		return err
	}
	if c.Rsh, err = f.str("rsh"); err != nil {
		return err
	}
	if c.DryRun, err = f.boolean("dry_run"); err != nil {
		return err
	}
	return nil
}

func (s *Script) setGrifork(L *lua.LState, p *pass) error {
	f, err := tableArg(L, "grifork", "chdir", "tmpdir", "exec", "user", "binaries", "heartbeat_timeout")
	if err != nil {
		return err
	}
	c := &p.conf.Grifork
	if c.HeartbeatTimeout, err = f.seconds("heartbeat_timeout", false); err != nil {
		return err
	}
	for _, kv := range []struct {
		key string
		dst *string
	}{{"chdir", &c.Chdir}, {"tmpdir", &c.Tmpdir}, {"exec", &c.Exec}, {"user", &c.User}, {"binaries", &c.Binaries}} {
		if *kv.dst, err = f.str(kv.key); err != nil {
			return err
		}
	}
	if _, ok := f.vals["binaries"]; ok {
		if c.Binaries == "" {
			return errors.New("grifork: binaries must name a directory, got \"\"")
		}
		// Relative to the Griforkfile, not to wherever grifork was started.
		if file, _, ok := caller(L); ok && !filepath.IsAbs(c.Binaries) {
			c.Binaries = filepath.Join(filepath.Dir(file), c.Binaries)
		}
		if c.Binaries, err = filepath.Abs(c.Binaries); err != nil {
			return fmt.Errorf("grifork: binaries: %w", err)
		}
	}
	return nil
}

func (s *Script) setBroadcast(L *lua.LState, p *pass) error {
	f, err := tableArg(L, "broadcast", "from", "to", "delete", "excludes", "branches", "checksum", "direct")
	if err != nil {
		return err
	}
	c := &core.BroadcastConfig{}
	if c.From, err = f.str("from"); err != nil {
		return err
	}
	if c.To, err = f.str("to"); err != nil {
		return err
	}
	if _, ok := f.vals["delete"]; ok {
		d, err := f.boolean("delete")
		if err != nil {
			return err
		}
		c.Delete = &d
	}
	if _, ok := f.vals["direct"]; ok {
		d, err := f.boolean("direct")
		if err != nil {
			return err
		}
		c.Direct = &d
	}
	if c.Excludes, err = f.strs("excludes"); err != nil {
		return err
	}
	if _, ok := f.vals["checksum"]; ok {
		if c.Checksum, err = f.boolean("checksum"); err != nil {
			return err
		}
	}
	if _, ok := f.vals["branches"]; ok {
		if c.Branches, err = f.intIn("branches", core.BranchesRange); err != nil {
			return err
		}
	}
	p.conf.Broadcast = c
	return c.Validate()
}

// setMaxFailures reads max_failures(N) (hosts) or max_failures("P%") (a share
// of all hosts).
func (s *Script) setMaxFailures(L *lua.LState, p *pass) error {
	v, err := oneArg(L, "max_failures", `max_failures(2) or max_failures("10%")`)
	if err != nil {
		return err
	}
	bad := fmt.Errorf(`max_failures must be a number of hosts >= 0 or a percentage such as "10%%", got %s`, describe(v))
	if n, ok := toInt(v); ok {
		if n < 0 {
			return bad
		}
		p.conf.MaxFailures = core.FailureBudget{Set: true, Max: n}
		return nil
	}
	str, ok := v.(lua.LString)
	if !ok || !strings.HasSuffix(strings.TrimSpace(string(str)), "%") {
		return bad
	}
	b, err := core.ParseFailureBudget(string(str))
	if err != nil {
		return err
	}
	p.conf.MaxFailures = b
	return nil
}

func (s *Script) setParallel(L *lua.LState, p *pass) error {
	v, err := oneArg(L, "parallel", `parallel "in_threads"`)
	if err != nil {
		return err
	}
	if m, ok := v.(lua.LString); !ok || (m != "in_threads" && m != "in_processes") {
		return fmt.Errorf(`parallel must be "in_threads" or "in_processes", got %s`, describe(v))
	}
	if !s.warnedParallel {
		s.warnedParallel = true
		s.logger().Warn("parallel is accepted for compatibility and has no effect: tasks always run concurrently",
			"file", p.src.Name, "line", callerLine(L))
	}
	return nil
}

func oneArg(L *lua.LState, name, example string) (lua.LValue, error) {
	if L.GetTop() != 1 {
		return nil, fmt.Errorf("%s takes one value: %s, got %s", name, example, describeArgs(L))
	}
	return L.Get(1), nil
}

// fields are the settings of a table directive, by key.
type fields struct {
	directive string
	vals      map[string]lua.LValue
}

// tableArg reads the one table argument of directive; keys other than allowed,
// and list entries, are errors.
func tableArg(L *lua.LState, directive string, allowed ...string) (*fields, error) {
	t, ok := L.Get(1).(*lua.LTable)
	if L.GetTop() != 1 || !ok {
		return nil, fmt.Errorf("%s takes one table: %s { %s = ... }, got %s", directive, directive, allowed[0], describeArgs(L))
	}
	f := &fields{directive: directive, vals: map[string]lua.LValue{}}
	var unknown []string
	list := false
	t.ForEach(func(k, v lua.LValue) {
		ks, isStr := k.(lua.LString)
		switch {
		case !isStr:
			list = true
		case slices.Contains(allowed, string(ks)):
			f.vals[string(ks)] = v
		default:
			unknown = append(unknown, string(ks))
		}
	})
	if len(unknown) > 0 {
		slices.Sort(unknown)
		msg := fmt.Sprintf("%s: unknown key %q", directive, unknown[0])
		if near := closest(unknown[0], allowed); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		return nil, fmt.Errorf("%s; known keys: %s", msg, strings.Join(allowed, ", "))
	}
	if list {
		return nil, fmt.Errorf("%s: settings are named: %s { %s = ... }", directive, directive, allowed[0])
	}
	return f, nil
}

func (f *fields) str(key string) (string, error) {
	v, ok := f.vals[key]
	if !ok {
		return "", nil
	}
	s, isStr := v.(lua.LString)
	if !isStr {
		return "", fmt.Errorf("%s: %s must be a string, got %s", f.directive, key, describe(v))
	}
	return string(s), nil
}

// secret is str for values that must not be echoed.
func (f *fields) secret(key string) (string, error) {
	v, ok := f.vals[key]
	if !ok {
		return "", nil
	}
	s, isStr := v.(lua.LString)
	if !isStr {
		return "", fmt.Errorf("%s: %s must be a string, got a %s", f.directive, key, v.Type())
	}
	return string(s), nil
}

func (f *fields) oneOf(key string, allowed ...string) (string, error) {
	s, err := f.str(key)
	if _, set := f.vals[key]; !set || err != nil {
		return s, err
	}
	if !slices.Contains(allowed, s) {
		return "", fmt.Errorf("%s: %s must be one of %s, got %q", f.directive, key, quoteAll(allowed), s)
	}
	return s, nil
}

func (f *fields) boolean(key string) (bool, error) {
	v, ok := f.vals[key]
	if !ok {
		return false, nil
	}
	b, isBool := v.(lua.LBool)
	if !isBool {
		return false, fmt.Errorf("%s: %s must be true or false, got %s", f.directive, key, describe(v))
	}
	return bool(b), nil
}

// intIn reads an integer in r; 0 when unset.
func (f *fields) intIn(key string, r core.IntRange) (int, error) {
	v, ok := f.vals[key]
	if !ok {
		return 0, nil
	}
	n, isInt := toInt(v)
	if !isInt || !r.Contains(n) {
		return 0, fmt.Errorf("%s: %s must be an integer %s, got %s", f.directive, key, r, describe(v))
	}
	return n, nil
}

// seconds reads a number of seconds, > 0 (or >= 0 with zero); fractions count.
func (f *fields) seconds(key string, zero bool) (time.Duration, error) {
	v, ok := f.vals[key]
	if !ok {
		return 0, nil
	}
	n, isNum := toNumber(v)
	bad := !isNum || n < 0 || n == 0 && !zero || math.IsInf(float64(n), 0) || math.IsNaN(float64(n))
	switch {
	case bad && zero:
		return 0, fmt.Errorf("%s: %s must be a number of seconds >= 0 (0: none), got %s", f.directive, key, describe(v))
	case bad:
		return 0, fmt.Errorf("%s: %s must be a number of seconds > 0, got %s", f.directive, key, describe(v))
	}
	return time.Duration(float64(n) * float64(time.Second)), nil
}

// strs reads a list of strings; a single string is a list of one.
func (f *fields) strs(key string) ([]string, error) {
	v, ok := f.vals[key]
	if !ok {
		return nil, nil
	}
	if s, isStr := v.(lua.LString); isStr {
		return []string{string(s)}, nil
	}
	t, isTable := v.(*lua.LTable)
	if !isTable {
		return nil, fmt.Errorf("%s: %s must be a list of strings, got %s", f.directive, key, describe(v))
	}
	if err := checkArray(t, f.directive+": "+key); err != nil {
		return nil, err
	}
	var out []string
	for i := 1; i <= t.Len(); i++ {
		s, isStr := t.RawGetInt(i).(lua.LString)
		if !isStr {
			return nil, fmt.Errorf("%s: %s[%d] must be a string, got %s", f.directive, key, i, describe(t.RawGetInt(i)))
		}
		out = append(out, string(s))
	}
	return out, nil
}

// checkArray reports a table that has keys other than 1..n.
func checkArray(t *lua.LTable, what string) error {
	n := t.Len()
	var bad lua.LValue
	t.ForEach(func(k, _ lua.LValue) {
		if i, ok := toInt(k); ok && i >= 1 && i <= n {
			return
		}
		if bad == nil {
			bad = k
		}
	})
	if bad != nil {
		return fmt.Errorf("%s must be a list, but has the key %s", what, describe(bad))
	}
	return nil
}

func toInt(v lua.LValue) (int, bool) {
	n, ok := toNumber(v)
	if !ok || float64(n) != math.Trunc(float64(n)) || math.Abs(float64(n)) > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}

// toNumber takes a number, or a string that is one, as Lua's arithmetic does:
// settings often come from os.getenv ("port = os.getenv('SSH_PORT') or 22").
func toNumber(v lua.LValue) (lua.LNumber, bool) {
	switch v := v.(type) {
	case lua.LNumber:
		return v, true
	case lua.LString:
		f, err := strconv.ParseFloat(strings.TrimSpace(string(v)), 64)
		return lua.LNumber(f), err == nil
	}
	return 0, false
}

// describe shows a Lua value in an error message.
func describe(v lua.LValue) string {
	switch v := v.(type) {
	case lua.LString:
		return fmt.Sprintf("%q", string(v))
	case lua.LNumber, lua.LBool:
		return v.String()
	case *lua.LNilType:
		return "nil"
	}
	return "a " + v.Type().String()
}

func describeArgs(L *lua.LState) string {
	switch n := L.GetTop(); n {
	case 0:
		return "nothing"
	case 1:
		return describe(L.Get(1))
	default:
		return fmt.Sprintf("%d arguments", n)
	}
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// closest is the allowed key within two edits of key, for "did you mean".
func closest(key string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(key, a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
