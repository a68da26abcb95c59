-- The pipelined broadcast: every host gets the application in about the time
-- one link needs to carry it once. Each host's relay (grifork itself, shipped
-- and cached like grifork mode's binary) writes the stream to disk while it
-- forwards it to its children, and makes the new files visible only once the
-- whole stream matched the root's SHA-256.
--
-- `make demo` runs it on its fleet with GRIFORK_DEMO_* set; for your own
-- servers, write the values in here instead.

local function env(name)
  local value = os.getenv(name)
  if value == nil or value == "" then
    error(name .. " is not set; run this file through `make demo`")
  end
  return value
end

local hostlist = {}
for w in string.gmatch(env("GRIFORK_DEMO_HOSTS"), "%S+") do
  table.insert(hostlist, w)
end
hosts(hostlist)

ssh {
  user = "root",
  keys = { env("GRIFORK_DEMO_KEY") },
  known_hosts = env("GRIFORK_DEMO_KNOWN_HOSTS"),
}

broadcast {
  from = env("GRIFORK_DEMO_SRC") .. "/",  -- a directory: its contents land in `to`
  to = "/srv/app/",
  delete = true,                          -- hosts end up identical to the source
  excludes = { ".git", "*.tmp" },
  branches = 1,                           -- a chain: on equal links the fastest
}

-- Edge blocks still run after the broadcast, on the hosts it reached (a restart,
-- say); this file needs none.
finish(function(report)
  local kinds, received, written = {}, 0, 0
  for _, r in ipairs(report.results) do
    local b = r.broadcast
    if b and b.status == "ok" then
      kinds[b.kind] = (kinds[b.kind] or 0) + 1    -- full, update or current
      received, written = math.max(received, b.received), written + b.written
    end
  end
  print(string.format("broadcast: %d of %d hosts ok (%d full copies, %d updates, %d current); %.1f MB received each, %.1f MB written in all",
    report.ok, report.total, kinds.full or 0, kinds.update or 0, kinds.current or 0, received / 1e6, written / 1e6))
end)
