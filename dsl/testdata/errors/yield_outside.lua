hosts { "web1" }
locally(function(src, dst)
  coroutine.yield(1)
end)
