hosts { "web1" }
locally(function(src, dst)
  local t = nil
  return t.x
end)
