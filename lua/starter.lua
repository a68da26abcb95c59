-- Griforkfile.lua: grifork runs these tasks across the hosts below, in the shape
-- of a tree. Plan it without touching a host: grifork -n
-- Every directive and helper: docs/griforkfile.md in grifork's source.

-- mode "grifork"                         -- every node runs grifork (default: "standalone")
branches(4)                               -- children per node
-- max_failures(0)                        -- a failed host stops the rollout (or "10%")

-- log { file = "grifork.log", level = "info" }

hosts {
  "web[01-08].example.com",               -- node sets expand in order
  -- "deploy@db1.example.com:2222",       -- per-host user and port
}

ssh {
  -- user = "deploy",
  -- keys = { "~/.ssh/id_ed25519" },      -- also ssh-agent and ~/.ssh/config
  host_key_check = "strict",              -- known_hosts must know every host
}

rsync { delete = true, excludes = { ".git" } }

local APP = "/srv/app/"                   -- what to ship, and where

-- prepare(function() sh("make", { "build" }) end)   -- once, here, first

locally(function(src, dst)                -- this machine -> each first-generation host
  ssh(dst, "mkdir", { "-p", APP })
  rsync(APP)
end)

remote(function(src, dst)                 -- parent -> child, every later generation
  ssh(dst, "mkdir", { "-p", APP })
  rsync_remote(APP)
end)

finish(function(report)                   -- once, here, last
  print(string.format("%d ok, %d failed, %d skipped", report.ok, report.failed, report.skipped))
end)
