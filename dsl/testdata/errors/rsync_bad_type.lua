rsync { delete = "yes" }
