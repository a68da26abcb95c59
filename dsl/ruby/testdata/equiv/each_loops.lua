local dirs = { "releases", "shared", "logs" }
hosts { "a", "b" }

prepare(function()
  for _, d in ipairs(dirs) do
    sh("mkdir", { "-p", "/tmp/stage/" .. d })
  end
end)

locally(function(src, dst)
  for _, d in ipairs(dirs) do
    ssh(dst, "mkdir", { "-p", "/srv/app/" .. d })
  end
  sh("echo", { "pass 1" })
  sh("echo", { "pass 2" })
  sh("true")
  sh("true")
end)
