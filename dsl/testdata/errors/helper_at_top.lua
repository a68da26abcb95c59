hosts { "web1" }
sh("ls")
