hosts { "web1" }
locally(function(src, dst)
  finish(function() end)
end)
