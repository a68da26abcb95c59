-- A realistic deploy, by hand. HOME and PWD come from the environment as in the
-- converted file.
local app = "/srv/shop"
local release = os.getenv("RELEASE") or "current"
local target = app .. "/releases/" .. release
local home = assert(os.getenv("HOME"), "HOME is not set")
local pwd = assert(os.getenv("PWD"), "PWD is not set")

mode "standalone"
branches(3)
log { file = pwd .. "/log/grifork.log", level = "info" }
hosts {
  "shop1.internal", "shop2.internal", "shop3.internal",
  "shop4.internal", "shop5.internal", "shop6.internal",
}
ssh { user = "deploy", keys = { home .. "/.ssh/deploy" }, host_key_check = "accept-new" }
rsync { delete = true, excludes = { ".git", "tmp/*", "log/*" }, verbose = false }

prepare(function()
  sh("cd " .. app .. " && make build")
end)

local function install(dst)
  ssh(dst, "mkdir", { "-p", target })
end

local function switch(dst)
  ssh(dst, "ln", { "-sfn", target, app .. "/current" })
end

locally(function(src, dst)
  install(dst)
  rsync(app .. "/build/", target .. "/")
  switch(dst)
end)

remote(function(src, dst)
  install(dst)
  rsync_remote(target .. "/")
  switch(dst)
end)

finish(function()
  print("released " .. release .. " to " .. target)
end)
