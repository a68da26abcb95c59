hosts { "web1" }
locally(function(src, dst)
  sh("mkdir", "-p", "/srv/app")
end)
