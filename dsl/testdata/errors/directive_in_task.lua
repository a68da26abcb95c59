hosts { "web1" }
locally(function(src, dst)
  branches(3)
end)
