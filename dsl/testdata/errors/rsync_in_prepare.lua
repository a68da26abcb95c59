hosts { "web1" }
prepare(function()
  rsync("/srv/app/")
end)
