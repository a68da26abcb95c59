mode "grifork"
grifork { exec = "/usr/local/bin/grifork", binaries = "bin" }
