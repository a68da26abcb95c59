locally(function(src, dst)
  rsync("/srv/app/")

