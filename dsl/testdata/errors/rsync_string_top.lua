rsync("/srv/app/")
