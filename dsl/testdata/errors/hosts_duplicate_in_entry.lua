hosts { "db1:22,db1:0022" }
