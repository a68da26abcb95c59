-- Grifork mode: every node runs grifork and handles only its own children, so the
-- root opens connections to its first generation only. grifork ships its own
-- binary to nodes that lack it (unless grifork { exec = ... } names one).
-- It ships with the rsync tree, the better choice for small edits to large files
-- the hosts hold; broadcast { } (Griforkfile.standalone.lua) is faster otherwise.

mode "grifork"
branches(3)
log { file = "grifork.log", level = "debug" }

hosts { "app[01-12].internal" }

ssh {
  user = "deploy",
  keys = { "~/.ssh/id_ed25519" },
  host_key_check = "strict",
}

rsync { "-az", "--delete", "--exclude=.git" }   -- array form: raw rsync options

grifork {
  chdir = "/home/deploy",                 -- where the remote grifork runs (and writes grifork.log)
  tmpdir = "/tmp/grifork-deploy",         -- Griforkfile, subtree and cached binary
  user = "deploy",                        -- login for the fork
}

local SRC = os.getenv("APP_SRC") or "/srv/app/"   -- the build, on this machine
local APP = "/srv/app/"                           -- where it goes on every host

prepare(function()
  sh("test", { "-d", SRC })               -- nothing to ship: stop before any host is touched
end)

-- The root to each node of the first generation.
locally(function(src, dst)
  ssh(dst, "mkdir", { "-p", APP })
  rsync(SRC, APP)                         -- rsync <opts> SRC dst:/srv/app/
end)

-- On every node, toward its own children.
prepare_remote(function()
  sh("mkdir", { "-p", APP })
end)

remote(function(src, dst)
  ssh(dst, "mkdir", { "-p", APP })
  rsync(APP)                              -- on a node, rsync runs from that node
end)

finish_remote(function()
  sh("sync")                              -- the copy is on disk before this node reports done
end)

finish(function(report)
  for _, r in ipairs(report.results) do
    if r.status ~= "ok" then
      print(r.host .. ": " .. r.status .. " " .. (r.err or ""))
    end
  end
end)
