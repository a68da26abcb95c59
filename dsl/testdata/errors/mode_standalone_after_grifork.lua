grifork { chdir = "/srv" }
mode "standalone"
