-- Every form in which a Griforkfile's data meets an argv: the plan shows that
-- each stays data (paths after "--", "./" before a path rsync would misread,
-- ssh args shell-quoted, sh args as argv).
hosts { "web1", "web2" }
branches(1)
ssh { user = "deploy", known_hosts = "/etc/grifork/known_hosts" }
rsync { excludes = { "--rsh=sh -c x", "-e sh" } }

prepare(function()
  sh("echo", { "$(touch /tmp/x)", "; id", "-n", "a b" })
  sh("printf '%s\\n' one")
end)

locally(function(src, dst)
  rsync("-esh -c 'touch /tmp/x'", "/srv/x/")
  rsync("/srv/app/", "--rsh=sh -c 'touch /tmp/x'")
  rsync("evil:/etc/", ":module")
  ssh(dst, "ls", { "-oProxyCommand=sh -c x", "--", "a'b", "$(id)", "x;y" })
end)

remote(function(src, dst)
  rsync_remote("--rsh=sh -c 'touch /tmp/x'", "-e sh")
  rsync_remote("-esh -c 'id'")
end)
