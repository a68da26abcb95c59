package dsl

import (
	"time"

	"github.com/grifork/grifork/core"
	lua "github.com/yuin/gopher-lua"
)

// reportTable gives the finish block the run's report as a plain Lua table (a
// copy: writing to it changes nothing):
//
//	report.mode       "standalone" | "grifork"
//	report.ok         number of hosts that succeeded
//	report.failed     number of hosts that failed
//	report.skipped    number of hosts skipped (their parent failed)
//	report.total      number of hosts
//	report.success    true when every host succeeded
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
//	report.by_host[name]  the entry of the host with that name
//
// For example:
//
//	finish(function(report)
//	  for _, r in ipairs(report.results) do print(r.host, r.status, r.err or "") end
//	  print(report.ok .. " ok, " .. report.failed .. " failed, " .. report.skipped .. " skipped")
//	end)
func reportTable(L *lua.LState, r *core.Report) *lua.LTable {
	if r == nil {
		r = &core.Report{}
	}
	res := r.Results()
	// Sized up front: a report of 100,000 hosts is built in one go.
	t := L.CreateTable(0, 9)
	results := L.CreateTable(len(res), 0)
	byHost := L.CreateTable(0, len(res))
	t.RawSetString("results", results)
	t.RawSetString("by_host", byHost)
	counts := map[core.Status]int{}
	for i, x := range res {
		counts[x.Status]++
		e := L.CreateTable(0, 9)
		e.RawSetString("host", lua.LString(x.Host))
		e.RawSetString("id", lua.LString(x.NodeID))
		e.RawSetString("level", lua.LNumber(x.Level))
		e.RawSetString("status", lua.LString(x.Status))
		if x.Task != "" {
			e.RawSetString("task", lua.LString(x.Task))
		}
		if x.Via != "" {
			e.RawSetString("via", lua.LString(x.Via))
		}
		if !x.Start.IsZero() {
			e.RawSetString("start", lua.LNumber(float64(x.Start.UnixNano())/1e9))
		}
		e.RawSetString("duration", lua.LNumber(x.Duration.Seconds()))
		if x.Err != "" {
			e.RawSetString("err", lua.LString(x.Err))
		}
		results.RawSetInt(i+1, e)
		byHost.RawSetString(x.Host, e)
	}
	t.RawSetString("mode", lua.LString(r.Mode))
	t.RawSetString("ok", lua.LNumber(counts[core.StatusOK]))
	t.RawSetString("failed", lua.LNumber(counts[core.StatusFailed]))
	t.RawSetString("skipped", lua.LNumber(counts[core.StatusSkipped]))
	t.RawSetString("total", lua.LNumber(len(res)))
	t.RawSetString("success", lua.LBool(counts[core.StatusOK] == len(res)))
	d := r.Duration
	if d == 0 && !r.Start.IsZero() {
		d = time.Since(r.Start)
	}
	t.RawSetString("duration", lua.LNumber(d.Seconds()))
	return t
}
