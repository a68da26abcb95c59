-- The Griforkfile of `make demo`: ship an application to /srv/app on every host,
-- three children per node. The root copies to the first generation itself; after
-- that each host copies on to its own children, so the root's link is used only
-- three times however many hosts there are.
--
-- scripts/demo.sh starts a fleet of real sshd servers on this machine and passes
-- its details in GRIFORK_DEMO_* variables. For your own servers, write the values
-- in here instead.

local function env(name)
  local value = os.getenv(name)
  if value == nil or value == "" then
    error(name .. " is not set; run this file through `make demo`")
  end
  return value
end

local function words(s)
  local list = {}
  for w in string.gmatch(s, "%S+") do
    table.insert(list, w)
  end
  return list
end

local SRC = env("GRIFORK_DEMO_SRC") .. "/"   -- the application, on this machine
local APP = "/srv/app/"                      -- where it goes on every host

branches(3)                                  -- 12 hosts: 3 + 9, two generations
hosts(words(env("GRIFORK_DEMO_HOSTS")))
log { file = env("GRIFORK_DEMO_LOG"), level = "info" }

ssh {
  user = "root",
  keys = { env("GRIFORK_DEMO_KEY") },
  known_hosts = env("GRIFORK_DEMO_KNOWN_HOSTS"),
  host_key_check = "strict",                 -- every host key must be known
  timeout = 10,
}

rsync {
  delete = true,                             -- hosts end up identical to the source
  excludes = { ".git", "*.tmp" },
}

prepare(function()
  sh("test", { "-d", SRC })                  -- fail early if there is nothing to ship
end)

locally(function(src, dst)                   -- root -> first generation
  ssh(dst, "mkdir", { "-p", APP })
  rsync(SRC, APP)                            -- rsync <opts> SRC dst:/srv/app/
  print("got /srv/app from " .. src)
end)

remote(function(src, dst)                    -- each parent -> its children
  ssh(dst, "mkdir", { "-p", APP })
  rsync_remote(APP)                          -- on src: rsync <opts> /srv/app/ dst:/srv/app/
  print("got /srv/app from " .. src)
end)

finish(function(report)
  print(string.format("demo: %d ok, %d failed, %d skipped",
    report.ok, report.failed, report.skipped))
end)
