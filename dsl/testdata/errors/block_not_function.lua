locally("rsync /srv")
