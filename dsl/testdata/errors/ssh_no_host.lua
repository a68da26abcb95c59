hosts { "web1" }
locally(function(src, dst)
  ssh(nil, "uptime")
end)
