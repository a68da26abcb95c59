hosts { "web1" }
locally(function(src, dst)
  rsync { delete = false }
end)
