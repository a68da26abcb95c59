-- A standalone broadcast with an installed grifork: grifork { exec, tmpdir,
-- user } say how its relays run (issue 18: this was an error in standalone mode).
mode "standalone"
hosts { "198.18.0.2", "198.18.0.3", "198.18.0.4" }
grifork { exec = "/usr/local/bin/grifork", tmpdir = "/var/tmp/grifork", user = "deploy" }
broadcast { from = "/tmp/demo/app/", to = "/srv/app/" }
