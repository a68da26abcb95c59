-- Standalone mode: only this machine runs grifork. It copies /srv/app to the first
-- generation itself, then logs into each parent and has it copy on to its children.
-- Dry-run it with: grifork -n -f examples/Griforkfile.standalone.lua

mode "standalone"
branches(3)
parallel "in_threads"                     -- accepted for compatibility; no effect
log { file = "grifork.log", level = "info" }

hosts {
  "web[01-09].internal",                  -- node-set ranges, expanded in order
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

rsync {
  delete = true,
  bwlimit = 4096,                         -- KiB/s per transfer
  verbose = false,
  excludes = { ".git", "*.tmp" },
}

local APP = "/srv/app/"

prepare(function()
  sh("mkdir", { "-p", "tmp" })
  sh("date > tmp/last-deploy")            -- one string: run through /bin/sh -c
end)

locally(function(src, dst)
  ssh(dst, "mkdir", { "-p", APP })
  rsync(APP)                              -- rsync <opts> /srv/app/ dst:/srv/app/
end)

remote(function(src, dst)
  ssh(dst, "mkdir", { "-p", APP })
  rsync_remote(APP)                       -- on src: rsync <opts> /srv/app/ dst:/srv/app/
end)

finish(function(report)
  print(string.format("deployed: %d ok, %d failed, %d skipped",
    report.ok, report.failed, report.skipped))
end)
