local app = "/srv/app"
local shared = app .. "/shared"
local label = "release-v2"

branches(3)
hosts { "app1", "app2", "app3" }
rsync { excludes = { ".git", "log/*" }, delete = true }

locally(function(src, dst)
  local target = shared .. "/" .. label
  ssh(dst, "mkdir", { "-p", target })
  rsync(app .. "/", target .. "/")
  sh("chown", { "-R", "deploy", target })
end)

remote(function(src, dst)
  rsync_remote(app .. "/", shared .. "/" .. label .. "/")
end)
