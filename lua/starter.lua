-- Griforkfile.lua: grifork ships an application to the hosts below and runs
-- tasks across them in the shape of a tree. Plan it without touching a host:
-- grifork -n
-- Every directive and helper: docs/griforkfile.md in grifork's source.

-- mode "grifork"                         -- every node runs grifork (default: "standalone")
branches(4)                               -- children per node, for the edge blocks below
-- max_failures(0)                        -- a failed host stops the rollout (or "10%")

-- log { file = "grifork.log", level = "info" }

hosts {
  "web[01-08].example.com",               -- a node set, sorted as ClusterShell sorts it
  -- "deploy@db1.example.com:2222",       -- per-host user and port
}

ssh {
  -- user = "deploy",
  -- keys = { "~/.ssh/id_ed25519" },      -- also ssh-agent and ~/.ssh/config
  host_key_check = "strict",              -- known_hosts must know every host
}

local APP = "/srv/app/"                   -- what to ship, and where

-- prepare(function() sh("make", { "build" }) end)   -- once, here, first

-- The application, pipelined: the stream carries only the files some host
-- lacks, and every host forwards it to the next while it receives it
-- (docs/broadcast.md).
broadcast { from = APP, to = APP, delete = true, excludes = { ".git" } }
-- The rsync tree (rsync in locally, rsync_remote in remote) is still the better
-- choice for small edits to large files the hosts hold (rsync's delta transfer)
-- and for hosts that cannot run grifork's relay (no grifork for their platform).

-- The edge blocks run after the broadcast, on the hosts it reached, along the
-- run's tree (branches above): per-host commands belong there (a restart, say).
-- locally(function(src, dst)             -- this machine -> each first-generation host
--   ssh(dst, "systemctl", { "restart", "app" })
-- end)
-- remote(function(src, dst)              -- parent -> child, every later generation
--   ssh(dst, "systemctl", { "restart", "app" })
-- end)

finish(function(report)                   -- once, here, last
  print(string.format("%d ok, %d failed, %d skipped", report.ok, report.failed, report.skipped))
end)
