// Package testbin builds the grifork binary for the tests and benchmarks that
// drive it as a user would (e2e, bench).
package testbin
