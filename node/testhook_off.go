//go:build !grifork_testhooks

package node

// corruptHost is the host whose relay corrupts its copy: none outside the
// tests (testhook_on.go).
func corruptHost() string { return "" }

// slowCommitHost is the host whose relay commits slowly: none outside the tests.
func slowCommitHost() string { return "" }

// directClosedHosts are the hosts whose direct port their parents are told
// wrong (comma-separated): none outside the tests.
func directClosedHosts() string { return "" }
