hosts { "web1", "web2" }
locally(function(src, dst)
  ssh(dst, "test", { "-d", "/srv/app" })
end)
remote(function(src, dst)
  rsync_remote("/srv/app/")
end)
