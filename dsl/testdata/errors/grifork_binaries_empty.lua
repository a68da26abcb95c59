grifork { binaries = "" }
