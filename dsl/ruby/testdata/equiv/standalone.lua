-- Standalone mode: copy an application tree to every host.
branches(4)
log { file = "tmp/grifork.log", level = "debug" }
hosts { "web1.internal", "web2.internal", "192.168.10.1", "192.168.10.2" }
ssh { user = "deploy", keys = { "path/to/id_ed25519" }, passphrase = "xxx" }
rsync { delete = true, bwlimit = 4096, verbose = false, excludes = {}, dry_run = false }

locally(function(src, dst)
  sh("echo", { "LOCAL:", src, "=>", dst })
  ssh(dst, "mkdir", { "-p", "/srv/app" })
  rsync("/srv/app/", "/srv/app/")
end)

remote(function(src, dst)
  sh("echo", { "REMOTE:", src, "=>", dst })
  ssh(dst, "mkdir", { "-p", "/srv/app" })
  rsync_remote("/srv/app/", "/srv/app/")
end)
