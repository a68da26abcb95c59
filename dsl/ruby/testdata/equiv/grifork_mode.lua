-- Grifork mode: every node runs grifork for its own subtree.
branches(4)
log { file = "tmp/grifork.log", level = "debug" }
ssh { user = "deploy", keys = { "path/to/id_ed25519" }, passphrase = "xxx" }
grifork {
  chdir = "/srv/app",
  tmpdir = "/tmp/grifork",
  exec = "/usr/local/bin/grifork",
}
hosts { "web1.internal", "web2.internal", "192.168.10.1", "192.168.10.2" }
rsync { delete = true, bwlimit = 4096, verbose = false, excludes = {}, dry_run = false }

local function copy(label)
  return function(src, dst)
    sh("echo", { label, src, "=>", dst })
    ssh(dst, "mkdir", { "-p", "/srv/app" })
    rsync("/srv/app/", "/srv/app/")
  end
end

locally(copy("LOCAL:"))
remote(copy("REMOTE:"))
