-- grifork prelude: runs before every Griforkfile, in the same VM.
--
-- Task blocks run as coroutines that the Go scheduler resumes. A helper that waits
-- (sh, ssh, rsync, rsync_remote, sleep) yields TOKEN up to the scheduler, which
-- resumes the task's outermost coroutine with (ok, result) once the work is done.
-- Lua 5.1 cannot yield across a plain pcall, so pcall/xpcall below run their
-- function in a coroutine and pass every yield up (the coxpcall idiom), and
-- coroutine.resume/wrap pass helper yields up, so helpers work inside both.

local TOKEN, go = ...

local co_create, co_resume, co_yield, co_status =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.status
local error, rawequal, pairs, tostring, type = error, rawequal, pairs, tostring, type

-- Run f in its own coroutine (through a closure when f is a callable table).
local function spawn(f)
  if type(f) == "function" then
    return co_create(f)
  end
  return co_create(function(...) return f(...) end)
end

-- settle resumes co until it returns or fails, passing every yield of co up to
-- whoever resumes us and handing the answer back down.
local function settle(co, ok, ...)
  if not ok then
    return false, ...
  end
  if co_status(co) == "suspended" then
    return settle(co, co_resume(co, co_yield(...)))
  end
  return true, ...
end

function pcall(f, ...)
  local co = spawn(f)
  return settle(co, co_resume(co, ...))
end

local function handled(handler, ok, ...)
  if ok then
    return true, ...
  end
  return false, handler(...)
end

-- xpcall(f, handler, ...): the handler runs after the failing coroutine unwound.
function xpcall(f, handler, ...)
  local co = spawn(f)
  return handled(handler, settle(co, co_resume(co, ...)))
end

-- A user's coroutine sees its own yields; helper yields (TOKEN) go past it.
local function forward(co, ok, ...)
  if ok and rawequal((...), TOKEN) and co_status(co) == "suspended" then
    return forward(co, co_resume(co, co_yield(...)))
  end
  return ok, ...
end

local function resume(co, ...)
  return forward(co, co_resume(co, ...))
end

local function unwrap(ok, ...)
  if not ok then
    error((...), 0)
  end
  return ...
end

coroutine.resume = resume
coroutine.wrap = function(f)
  local co = co_create(f)
  return function(...) return unwrap(resume(co, ...)) end
end

-- Every DSL function is a Go primitive behind this wrapper. The primitive returns
-- (wait, err): err, which already names the caller's FILE:LINE, is raised as is;
-- wait means the work was started and the task must yield until the scheduler
-- resumes it with (ok, result).
local function dsl(prim)
  return function(...)
    local wait, err = prim(...)
    if err ~= nil then
      error(err, 0)
    end
    if not wait then
      return
    end
    local ok, res = co_yield(TOKEN)
    if not ok then
      error(res, 0)
    end
    return res
  end
end

for name, prim in pairs(go) do
  _G[name] = dsl(prim)
end

-- run is the body of every task coroutine: it calls a block with its n arguments
-- and yields DONE when the block has returned, to be resumed with the next block.
-- The scheduler reuses a coroutine for task after task this way; a block that
-- fails ends its coroutine, which is then dropped.
local DONE = {}
local function run(block, n, a, b)
  while true do
    if n == 2 then
      block(a, b)
    elseif n == 1 then
      block(a)
    else
      block()
    end
    block, n, a, b = co_yield(DONE)
  end
end

-- trim(s): s without leading and trailing white space (command output ends in "\n").
function trim(s)
  return (tostring(s):gsub("^%s+", ""):gsub("%s+$", ""))
end

return run, DONE
