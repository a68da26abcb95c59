-- Standalone mode: only this machine runs grifork. The pipelined broadcast ships
-- /srv/app to every host (each host forwards the stream while it receives it);
-- then the edge blocks reload the application on every host it reached,
-- generation by generation along the run's tree.
-- Dry-run it with: grifork -n -f examples/Griforkfile.standalone.lua

mode "standalone"
branches(3)
parallel "in_threads"                     -- accepted for compatibility; no effect
log { file = "grifork.log", level = "info" }

hosts {
  "web[01-09].internal",                  -- a node set, sorted as ClusterShell sorts it
  "deploy@db1.internal:2222",             -- per-host user and port
  "db2.internal",
}

ssh {
  user = "deploy",
  keys = { "~/.ssh/id_ed25519" },
  port = 22,
  timeout = 10,
  host_key_check = "strict",              -- the default: known_hosts must know every host
}

local APP = "/srv/app/"

prepare(function()
  sh("mkdir", { "-p", "tmp" })
  sh("date > tmp/last-deploy")            -- one string: run through /bin/sh -c
end)

broadcast {
  from = APP,                             -- on this machine: its contents land in `to`
  to = APP,
  delete = true,                          -- hosts end up identical to the source
  excludes = { ".git", "*.tmp" },
  branches = 1,                           -- a chain: on equal links the fastest
}
-- The rsync tree (Griforkfile.grifork.lua) is still the better choice for small
-- edits to large files the hosts hold, and for hosts that cannot run grifork's relay.

locally(function(src, dst)                -- after the broadcast, on the hosts it reached
  ssh(dst, "systemctl", { "reload", "app" })
end)

remote(function(src, dst)                 -- every later generation
  ssh(dst, "systemctl", { "reload", "app" })
end)

finish(function(report)
  print(string.format("deployed: %d ok, %d failed, %d skipped",
    report.ok, report.failed, report.skipped))
end)
