hosts { "web1" }
locally(function(src, dst)
  rsync_remote("/srv/app/")
end)
