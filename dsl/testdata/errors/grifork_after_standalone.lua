mode "standalone"
grifork { chdir = "/srv" }
