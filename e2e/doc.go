// Package e2e runs the grifork binary against a fleet of real OpenSSH servers in
// network and mount namespaces (internal/testkit/fleet). Tests need root; they skip
// without it, except under CI=true where they fail.
package e2e
