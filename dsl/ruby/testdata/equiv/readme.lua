-- The seed README's example, written by hand in Lua.
branches(4)
log { file = "grifork.log" }
hosts { "web1.internal", "web2.internal", "db1.internal", "db2.internal" }

locally(function(src, dst)
  rsync("/path/to/myapp/")
end)

remote(function(src, dst)
  rsync_remote("/path/to/myapp/")
end)
