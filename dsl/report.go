package dsl

import (
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/grifork/grifork/core"
	lua "github.com/yuin/gopher-lua"
	luar "layeh.com/gopher-luar"
)

// reportView is the report the finish block gets: a Go value handed to Lua
// through gopher-luar, so its fields cannot be set (an error says so) and its
// verdict is the run's own (core.Report.OK), never a recount in Lua.
//
//	report.mode       "standalone" | "grifork"
//	report.ok         number of hosts that succeeded
//	report.failed     number of hosts that failed
//	report.skipped    number of hosts skipped (their parent failed)
//	report.total      number of hosts
//	report.success    the exit code's verdict: every host succeeded and no task
//	                  outside the hosts (prepare, finish_remote, ...) failed
//	report.duration   seconds since the run started
//	report.results    one entry per host, in tree order (breadth-first):
//	  r.host      host name as task blocks get it ("deploy@web1:2222")
//	  r.id        node id ("0.0-1.0")
//	  r.level     1 for the first generation
//	  r.status    "ok" | "failed" | "skipped" | "pending"
//	  r.task      the block that ran or failed ("locally", "remote", ...), nil if none
//	  r.via       standalone: the host its task copied from (another than its parent
//	              when --heal re-attached it), nil if its task never ran
//	  r.start     Unix time in seconds when its task started, nil if it never did
//	  r.duration  seconds its task took
//	  r.err       one line, nil when there is no error
//	  r.broadcast its part in the broadcast { }, nil without one: b.status,
//	              b.via (the host it received from), b.received (stream bytes),
//	              b.written (content bytes it wrote), b.kind ("full", "update" or
//	              "current"), b.duration (seconds), b.peak_rss (KiB of its relay),
//	              b.stream ("direct" or "ssh": what its stream came over), b.err
//	report.by_host[name]  the entry of the host with that name
//	report.errors     the run errors, in order: e.task, e.host (where it ran), e.err
//	report:failed_hosts()    the names of the failed hosts, in tree order
//	report:hosts(status)     the names of the hosts with that status, in tree order
//
// results, by_host and errors are plain Lua tables (ipairs, # and table.sort
// work on them), made for this call of finish: changing them changes nothing.
type reportView struct {
	Mode     string      `luar:"mode"`
	OK       int         `luar:"ok"`
	Failed   int         `luar:"failed"`
	Skipped  int         `luar:"skipped"`
	Total    int         `luar:"total"`
	Success  bool        `luar:"success"`
	Duration float64     `luar:"duration"`
	Results  *lua.LTable `luar:"results"`
	ByHost   *lua.LTable `luar:"by_host"`
	Errors   *lua.LTable `luar:"errors"`

	results []core.Result
}

// resultView is one entry of report.results. Fields that may be absent are Lua
// values, so that they are nil rather than "" or 0.
type resultView struct {
	Host      string     `luar:"host"`
	ID        string     `luar:"id"`
	Level     int        `luar:"level"`
	Status    string     `luar:"status"`
	Task      lua.LValue `luar:"task"`
	Via       lua.LValue `luar:"via"`
	Start     lua.LValue `luar:"start"`
	Duration  float64    `luar:"duration"`
	Err       lua.LValue `luar:"err"`
	Broadcast lua.LValue `luar:"broadcast"`
}

// broadcastView is r.broadcast.
type broadcastView struct {
	Status   string     `luar:"status"`
	Via      string     `luar:"via"`
	Received int64      `luar:"received"`
	Written  int64      `luar:"written"`
	Kind     lua.LValue `luar:"kind"`
	Duration float64    `luar:"duration"`
	PeakRSS  int64      `luar:"peak_rss"`
	Stream   lua.LValue `luar:"stream"`
	Err      lua.LValue `luar:"err"`
}

// runErrorView is one entry of report.errors.
type runErrorView struct {
	Task string `luar:"task"`
	Host string `luar:"host"`
	Err  string `luar:"err"`
}

// FailedHosts is report:failed_hosts().
func (v reportView) FailedHosts(L *luar.LState) int {
	L.Push(v.hostsWith(L.LState, core.StatusFailed))
	return 1
}

// Hosts is report:hosts(status).
func (v reportView) Hosts(L *luar.LState) int {
	s := core.Status(L.CheckString(1))
	switch s {
	case core.StatusOK, core.StatusFailed, core.StatusSkipped, core.StatusPending:
	default:
		L.ArgError(1, fmt.Sprintf(`status must be "ok", "failed", "skipped" or "pending", got %q`, s))
	}
	L.Push(v.hostsWith(L.LState, s))
	return 1
}

func (v reportView) hostsWith(L *lua.LState, s core.Status) *lua.LTable {
	t := L.NewTable()
	for _, r := range v.results {
		if r.Status == s {
			t.Append(lua.LString(r.Host))
		}
	}
	return t
}

// setupReport prepares L for report values: snake_case method names
// (report:failed_hosts()) and an error on any attempt to set a field.
func setupReport(L *lua.LState) {
	luar.GetConfig(L).MethodNames = func(_ reflect.Type, m reflect.Method) []string {
		return []string{snakeCase(m.Name)}
	}
	readOnly := L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("the report is read-only: cannot set %s", L.ToStringMeta(L.Get(2)))
		return 0
	})
	for _, v := range []any{reportView{}, resultView{}, runErrorView{}, broadcastView{}} {
		luar.MT(L, v).RawSetString("__newindex", readOnly)
	}
}

// snakeCase turns a Go method name into the Lua one: FailedHosts -> failed_hosts.
func snakeCase(name string) string {
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// reportValue is r as the finish block sees it (see reportView).
func reportValue(L *lua.LState, r *core.Report) lua.LValue {
	if r == nil {
		r = &core.Report{}
	}
	res := r.Results()
	v := reportView{
		Mode:    string(r.Mode),
		OK:      r.Count(core.StatusOK),
		Failed:  r.Count(core.StatusFailed),
		Skipped: r.Count(core.StatusSkipped),
		Total:   len(res),
		Success: r.OK(),
		Results: L.CreateTable(len(res), 0),
		ByHost:  L.CreateTable(0, len(res)),
		Errors:  L.NewTable(),
		results: res,
	}
	d := r.Duration
	if d == 0 && !r.Start.IsZero() {
		d = time.Since(r.Start)
	}
	v.Duration = d.Seconds()
	for _, x := range res {
		var bc lua.LValue = lua.LNil
		if b := x.Broadcast; b != nil {
			bc = luar.New(L, broadcastView{Status: string(b.Status), Via: b.Via, Received: b.Received,
				Written: b.Written, Kind: optString(b.Kind), Duration: b.Duration.Seconds(), PeakRSS: b.PeakRSS, Stream: optString(b.Stream), Err: optString(b.Err)})
		}
		e := luar.New(L, resultView{
			Host:      x.Host,
			ID:        x.NodeID,
			Level:     x.Level,
			Status:    string(x.Status),
			Task:      optString(string(x.Task)),
			Via:       optString(x.Via),
			Start:     optStart(x.Start),
			Duration:  x.Duration.Seconds(),
			Err:       optString(x.Err),
			Broadcast: bc,
		})
		v.Results.Append(e)
		v.ByHost.RawSetString(x.Host, e)
	}
	for _, e := range r.RunErrors() {
		v.Errors.Append(luar.New(L, runErrorView{Task: string(e.Task), Host: e.Host, Err: e.Err}))
	}
	return luar.New(L, v)
}

func optString(s string) lua.LValue {
	if s == "" {
		return lua.LNil
	}
	return lua.LString(s)
}

func optStart(t time.Time) lua.LValue {
	if t.IsZero() {
		return lua.LNil
	}
	return lua.LNumber(float64(t.UnixNano()) / 1e9)
}
