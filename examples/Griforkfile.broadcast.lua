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
  local bytes = 0
  for _, r in ipairs(report.results) do
    if r.broadcast and r.broadcast.status == "ok" then bytes = r.broadcast.bytes end
  end
  print(string.format("broadcast: %d of %d hosts ok, %.1f MB each", report.ok, report.total, bytes / 1e6))
end)
