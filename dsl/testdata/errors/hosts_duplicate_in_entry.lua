hosts { "db[1,1]" }
