mode "grifork"
hosts { "n1", "n2", "n3", "n4", "n5" }
grifork { chdir = "/opt/app", tmpdir = "/tmp/gf", exec = "/opt/app/bin/grifork", user = "deploy" }

prepare(function()
  print("preparing")
  sh("tar czf /tmp/app.tgz -C /opt/app .")
end)
prepare_remote(function() print('"remote node starts"') end)
locally(function(src, dst) rsync("/tmp/app.tgz", "/tmp/app.tgz") end)
remote(function(src, dst) rsync("/tmp/app.tgz") end)
finish_remote(function() sh("rm", { "-f", "/tmp/app.tgz" }) end)
finish(function()
  print("")
  print("all done")
  print(42)
  print(7)
  print("nil")
  print(true)
end)
