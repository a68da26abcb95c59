module github.com/grifork/grifork

go 1.26.0

require (
	github.com/alecthomas/kong v1.17.0
	github.com/kevinburke/ssh_config v1.6.0
	github.com/rogpeppe/go-internal v1.16.0
	github.com/yuin/gopher-lua v1.1.2
	golang.org/x/crypto v0.59.0
	golang.org/x/sync v0.25.0
	golang.org/x/sys v0.50.0
	layeh.com/gopher-luar v1.0.11
)

require golang.org/x/tools v0.26.0 // indirect
