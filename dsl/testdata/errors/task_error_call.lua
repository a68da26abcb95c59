hosts { "web1" }
prepare_remote(function(node)
  error("not on " .. node)
end)
