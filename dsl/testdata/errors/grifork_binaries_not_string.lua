grifork { binaries = 42 }
