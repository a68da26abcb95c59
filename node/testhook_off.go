//go:build !grifork_testhooks

package node

// corruptHost is the host whose relay corrupts its copy: none outside the
// tests (testhook_on.go).
func corruptHost() string { return "" }

// slowCommitHost is the host whose relay commits slowly: none outside the tests.
func slowCommitHost() string { return "" }

// directClosedHost is the host whose direct port its parent is told wrong:
// none outside the tests.
func directClosedHost() string { return "" }
