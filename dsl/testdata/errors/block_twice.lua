locally(function(src, dst) end)

locally(function(src, dst) end)
