hosts { "web1" }
locally(function(src, dst)
  ssh { user = "deploy" }
end)
