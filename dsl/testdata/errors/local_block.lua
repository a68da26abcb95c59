hosts { "web1" }
local(function(src, dst)
  rsync("/srv/app/")
end)
